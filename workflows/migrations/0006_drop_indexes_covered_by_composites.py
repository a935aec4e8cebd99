"""Drop the single-column indexes of four foreign keys: each is the leading column of a composite index
(`flowrun_{flow,depl,pool}_expected_idx`, `statechange_run_at_idx`) that serves the same lookups, and every index
costs time on each row the sync upserts.

Plain `AlterField(db_index=False)` would rebuild the table three times on SQLite and drop and re-validate the
foreign-key constraints on PostgreSQL; dropping the indexes by name (Django gave them the same name on both) is
instant on both.
"""

import django.db.models.deletion
from django.db import migrations, models

COVERED_INDEXES = [
    ("workflows_flowrun", "deployment_id", "workflows_flowrun_deployment_id_adb14f0d"),
    ("workflows_flowrun", "flow_id", "workflows_flowrun_flow_id_905b1e7f"),
    ("workflows_flowrun", "work_pool_id", "workflows_flowrun_work_pool_id_f6ce3f04"),
    ("workflows_flowrunstatechange", "flow_run_id", "workflows_flowrunstatechange_flow_run_id_d61c1843"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0005_nightly_full_reconcile"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                )
                for table, column, index in COVERED_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="flowrun",
                    name="deployment",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="runs",
                        to="workflows.deployment",
                    ),
                ),
                migrations.AlterField(
                    model_name="flowrun",
                    name="flow",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="runs",
                        to="workflows.flow",
                    ),
                ),
                migrations.AlterField(
                    model_name="flowrun",
                    name="work_pool",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="runs",
                        to="workflows.workpool",
                    ),
                ),
                migrations.AlterField(
                    model_name="flowrunstatechange",
                    name="flow_run",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="state_changes",
                        to="workflows.flowrun",
                    ),
                ),
            ],
        ),
    ]
