from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from monitoring.receivers import alert_on_mirrored_failures
        from workflows.signals import runs_mirrored

        runs_mirrored.connect(alert_on_mirrored_failures, dispatch_uid="monitoring.alert_on_mirrored_failures")
