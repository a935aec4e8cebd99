"""Default thresholds and the monitoring beat schedules (sample, health + evaluation, failed-run scan, prune).
Both are editable in the admin afterwards."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

# (name, metric, comparison, warning, critical)
DEFAULT_THRESHOLDS = [
    ("CPU", "cpu_percent", ">", 80, 95),
    ("Memory", "memory_percent", ">", 80, 95),
    ("Disk", "disk_percent", ">", 90, 95),
    ("Run failure rate", "run_error_rate", ">", 10, 20),
    ("Run retry rate", "run_retry_rate", ">", 20, 40),
    ("Late runs", "late_runs", ">", 50, 100),
    # 0 ok, 1 degraded, 2 down: only "down" is beyond 1.
    ("Component down", "component_down", ">", 1, 1),
]
SCOPES = {"disk_percent": "disk"}

SAMPLE_TASK_NAME = "Monitoring: sample the host"
CHECK_TASK_NAME = "Monitoring: check components and evaluate thresholds"
FAILED_RUNS_TASK_NAME = "Monitoring: alert on failed runs"
PRUNE_TASK_NAME = "Monitoring: prune old samples"


def create_defaults(apps, schema_editor):
    Threshold = apps.get_model("monitoring", "Threshold")
    for name, metric, comparison, warning, critical in DEFAULT_THRESHOLDS:
        Threshold.objects.get_or_create(
            name=name,
            defaults={
                "metric": metric,
                "scope": SCOPES.get(metric, "global"),
                "comparison": comparison,
                "warning_level": warning,
                "critical_level": critical,
            },
        )

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")
    seconds = settings.MONITORING_SAMPLE_SECONDS
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    for name, task, description in [
        (SAMPLE_TASK_NAME, "monitoring.sample_host", "psutil sample into SystemSample, then threshold evaluation."),
        (CHECK_TASK_NAME, "monitoring.check_components", "Component health, run health and their thresholds."),
        (FAILED_RUNS_TASK_NAME, "monitoring.alert_on_failed_runs", "An alert per failed run of watched deployments."),
    ]:
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": every, "expire_seconds": seconds, "description": description},
        )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="37", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=PRUNE_TASK_NAME,
        defaults={
            "task": "monitoring.prune_samples",
            "crontab": daily,
            "description": "Delete system samples older than MONITORING_SAMPLE_RETENTION_HOURS, in batches.",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_defaults(apps, schema_editor):
    apps.get_model("monitoring", "Threshold").objects.filter(name__in=[row[0] for row in DEFAULT_THRESHOLDS]).delete()
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[SAMPLE_TASK_NAME, CHECK_TASK_NAME, FAILED_RUNS_TASK_NAME, PRUNE_TASK_NAME]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_defaults, remove_defaults)]
