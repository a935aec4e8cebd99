"""OrchestrationConfig is workflow configuration: it moves to the workflows app (workflows 0008) with its table,
so this only drops it from this app's migration state. No table changes, no row moves."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("controlplane", "0003_audit_append_only_trigger")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OrchestrationConfig")],
            database_operations=[],
        )
    ]
