"""Beat schedule of the stalled-delivery sweep: every REQUEUE_SECONDS, notification deliveries stored while the
broker was unreachable are sent to the workers again. Editable in the admin."""

from django.conf import settings
from django.db import migrations

from controlplane.schedules.migration_support import add_interval_task, remove_tasks

REDISPATCH_TASK_NAME = "Monitoring: send stalled notifications again"


def create_schedule(apps, schema_editor):
    add_interval_task(
        apps,
        REDISPATCH_TASK_NAME,
        "monitoring.redispatch_stalled_deliveries",
        settings.REQUEUE_SECONDS,
        "Notification deliveries never attempted REQUEUE_SECONDS after they were stored are sent to the workers "
        "again (the broker was down when the alert fired).",
    )


def remove_schedule(apps, schema_editor):
    remove_tasks(apps, REDISPATCH_TASK_NAME)


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0002_default_thresholds_and_schedules"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
