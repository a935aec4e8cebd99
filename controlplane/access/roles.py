"""The four roles and their permissions: the one place that says which role may do what.

Roles are Django groups; both doors (admin, GraphQL) check the same Django permissions through them. A data
migration creates the groups, and every `migrate` re-grants the permissions below (later apps add permissions).
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

VIEWER, OPERATOR, ADMIN, AUDITOR = "viewer", "operator", "admin", "auditor"
ROLE_NAMES = (VIEWER, OPERATOR, ADMIN, AUDITOR)

_MIRROR_MODELS = ("flow", "deployment", "workpool", "flowrun", "flowrunstatechange", "syncstatus")

_MONITORING_MODELS = (
    "systemsample",
    "componenthealth",
    "threshold",
    "deploymentalertrule",
    "alert",
    "notificationchannel",
    "delivery",
)

READ = frozenset(
    {f"workflows.view_{model}" for model in _MIRROR_MODELS}
    | {"workflows.view_orchestrationconfig"}
    | {f"monitoring.view_{model}" for model in _MONITORING_MODELS}
    | {"pipelines.view_streamrecord", "pipelines.view_streammetric"}
)
OPERATE = frozenset(
    {"workflows.trigger_run", "workflows.cancel_run", "workflows.retry_run"}
    | {"monitoring.acknowledge_alert", "monitoring.resolve_alert"}
)
AUDIT = frozenset({"controlplane.view_auditevent", "controlplane.export_auditevent", "controlplane.verify_auditevent"})
_CRUD = ("view", "add", "change", "delete")
# Monitoring settings admins edit (through monitoring.services): thresholds, channels, per-deployment rules.
_MONITORED_SETTINGS = ("threshold", "notificationchannel", "deploymentalertrule")
_SCHEDULE_MODELS = ("periodictask", "intervalschedule", "crontabschedule", "solarschedule", "clockedschedule")
ADMINISTER = frozenset(
    {"workflows.change_orchestrationconfig", "controlplane.manage_all_tokens", "gateway.administer_prefect"}
    | {f"controlplane.{verb}_apitoken" for verb in _CRUD}
    | {f"auth.{verb}_{model}" for verb in _CRUD for model in ("user", "group")}
    | {f"django_celery_beat.{verb}_{model}" for verb in _CRUD for model in _SCHEDULE_MODELS}
    | {f"monitoring.{verb}_{model}" for verb in ("add", "change") for model in _MONITORED_SETTINGS}
)

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    VIEWER: READ,
    OPERATOR: READ | OPERATE,
    ADMIN: READ | OPERATE | AUDIT | ADMINISTER,
    AUDITOR: READ | AUDIT,
}


def sync_roles(group_model: Any, permission_model: Any, *, missing_ok: bool = False) -> None:
    """Make each role group hold exactly its permissions. Takes the models so a migration can pass historical ones;
    a migration early in history passes `missing_ok` for permissions of models that do not exist yet there (the
    post-migrate sync grants them once every migration has run)."""
    for role, wanted in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        permissions = [_permission(permission_model, dotted, missing_ok) for dotted in sorted(wanted)]
        group.permissions.set([permission for permission in permissions if permission is not None])


def _permission(permission_model: Any, dotted: str, missing_ok: bool) -> Any:
    app_label, codename = dotted.split(".", 1)
    try:
        return permission_model.objects.get(content_type__app_label=app_label, codename=codename)
    except permission_model.DoesNotExist:
        if missing_ok:
            return None
        raise LookupError(f"Role permission {dotted!r} does not exist; is its model migrated?") from None


_ROLE_TABLES = ("django_content_type", "auth_permission", "auth_group", "auth_group_permissions")


def sync_roles_after_migrate(**kwargs: Any) -> None:
    from django.apps import apps
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission
    from django.db import connections

    connection = connections[kwargs.get("using", "default")]
    missing = set(_ROLE_TABLES) - set(connection.introspection.table_names())
    if missing:
        # A partial `migrate <app> <migration>` on an empty database: the next full migrate grants the roles.
        logger.info("Roles not synced yet: tables %s are not migrated.", ", ".join(sorted(missing)))
        return
    # After `flush` (transactional tests) this runs before later apps' permissions are re-created: create them now.
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=kwargs.get("using", "default"))
    sync_roles(Group, Permission)
