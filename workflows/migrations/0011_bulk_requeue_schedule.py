"""Beat schedule of the stalled-job sweep: every BULK_REQUEUE_SECONDS, bulk operations stored while the broker was
unreachable are sent to the workers again. Editable in the admin."""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

REQUEUE_TASK_NAME = "Send stalled bulk operations again"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTasks = apps.get_model("django_celery_beat", "PeriodicTasks")

    every, _ = IntervalSchedule.objects.get_or_create(every=settings.BULK_REQUEUE_SECONDS, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=REQUEUE_TASK_NAME,
        defaults={
            "task": "workflows.requeue_stalled_bulk_operations",
            "interval": every,
            "expire_seconds": settings.BULK_REQUEUE_SECONDS,
            "description": "Bulk operations still queued BULK_REQUEUE_SECONDS after they were stored are sent to the "
            "workers again (the broker was down when they were submitted).",
        },
    )
    PeriodicTasks.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=REQUEUE_TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0010_bulk_operation"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
