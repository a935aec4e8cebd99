"""A nightly full reconcile: incremental ticks never notice a run deleted in Prefect; this marks such runs
`deleted_in_prefect` (never deletes them). It holds the sync lock while it runs (minutes at 100k runs), during which
incremental ticks skip and the event listener keeps the mirror fresh. Editable in the admin."""

from django.db import migrations
from django.utils import timezone

FULL_SYNC_TASK_NAME = "Full reconcile of the Prefect mirror"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="47", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.get_or_create(
        name=FULL_SYNC_TASK_NAME,
        defaults={
            "task": "workflows.sync_prefect_mirror",
            "crontab": nightly,
            "kwargs": '{"full": true}',
            "description": "Re-read everything from Prefect; runs that vanished from it are marked, never deleted.",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=FULL_SYNC_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("workflows", "0004_flowrun_parent_prefect_id")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
