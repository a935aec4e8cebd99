from django.apps import AppConfig


class ControlplaneConfig(AppConfig):
    name = "controlplane"
    verbose_name = "Control plane"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from controlplane.access import auth_backend, bootstrap, login_audit, roles
        from controlplane.db import timestamps

        # Later migrations add permissions; re-grant them to the roles after every migrate.
        post_migrate.connect(roles.sync_roles_after_migrate, sender=self)
        # Logins, logouts, failed logins and lockouts are audited.
        login_audit.connect()
        # The first admin's saved credentials are deleted at its first login.
        bootstrap.connect()
        # A user's cached permissions are dropped whenever what grants them changes.
        auth_backend.connect()
        # PostgreSQL timestamps parsed by psycopg's C loader.
        timestamps.connect()
