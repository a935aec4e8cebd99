"""Beat schedules of the mirror: sync every SYNC_INTERVAL_SECONDS, prune old runs daily. Editable in the admin."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

SYNC_TASK_NAME = "Sync Prefect mirror"
PRUNE_TASK_NAME = "Prune mirrored runs past retention"


def create_schedules(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    every, _ = IntervalSchedule.objects.get_or_create(every=settings.SYNC_INTERVAL_SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=SYNC_TASK_NAME,
        defaults={
            "task": "workflows.sync_prefect_mirror",
            "interval": every,
            # A tick not picked up within one interval is dropped: the next one does the same work.
            "expire_seconds": settings.SYNC_INTERVAL_SECONDS,
            "description": "Incremental sync of flows, deployments, work pools and flow runs from Prefect.",
        },
    )
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="17", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=PRUNE_TASK_NAME,
        defaults={
            "task": "workflows.prune_mirrored_runs",
            "crontab": nightly,
            "description": "Delete finished mirrored runs older than RUN_RETENTION_DAYS, in batches.",
        },
    )
    # Beat only reloads its schedule when this timestamp moves (signals do not fire for migration models).
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedules(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name__in=[SYNC_TASK_NAME, PRUNE_TASK_NAME]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedules, remove_schedules)]
