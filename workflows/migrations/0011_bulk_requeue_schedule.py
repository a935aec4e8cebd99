"""Beat schedule of the stalled-job sweep: every REQUEUE_SECONDS, bulk operations stored while the broker was
unreachable are sent to the workers again. Editable in the admin."""

from django.conf import settings
from django.db import migrations

from controlplane.schedules.migration_support import add_interval_task, remove_tasks

REQUEUE_TASK_NAME = "Send stalled bulk operations again"


def create_schedule(apps, schema_editor):
    add_interval_task(
        apps,
        REQUEUE_TASK_NAME,
        "workflows.requeue_stalled_bulk_operations",
        settings.REQUEUE_SECONDS,
        "Bulk operations still queued REQUEUE_SECONDS after they were stored are sent to the workers again "
        "(the broker was down when they were submitted).",
    )


def remove_schedule(apps, schema_editor):
    remove_tasks(apps, REQUEUE_TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0010_bulk_operation"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
