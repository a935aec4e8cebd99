"""Drop the mirror rows of auto-scheduled runs Prefect deleted before they started: Prefect regenerates those on
every serve() restart and schedule or concurrency change, and older syncs kept them as ghosts. From now on the sync
drops them as it finds them gone (workflows.sync._mark_deleted)."""

from django.db import migrations


def drop_ghosts(apps, schema_editor):
    FlowRun = apps.get_model("workflows", "FlowRun")
    ghosts = FlowRun.objects.filter(
        deleted_in_prefect=True, idempotency_key__startswith="scheduled ", start_time__isnull=True, run_count=0
    )
    ghosts.delete()


class Migration(migrations.Migration):
    dependencies = [("workflows", "0012_flowrun_active_idx")]

    operations = [migrations.RunPython(drop_ghosts, migrations.RunPython.noop)]
