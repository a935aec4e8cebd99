"""Replace the full indexes on `flowrun.parent_id` and `flowrun.parent_prefect_id` with partial ones.

Most runs are not subflow runs, so both full indexes held an entry (NULL) for nearly every row: written on every
upsert, and no help to the lookups — the sync's "is any run waiting for its parent?" check
(`parent_id IS NULL AND parent_prefect_id IS NOT NULL`) walked the whole `parent_id` index. The partial indexes hold
only subflow runs (`flowrun_parent_idx`) and runs still waiting for their parent (`flowrun_waiting_parent_idx`).

As in 0006, the old indexes are dropped by name (Django gave them the same name on both backends) with state-only
`AlterField`s: a plain `AlterField(db_index=False)` would rebuild the table on SQLite and drop and re-validate the
foreign key on PostgreSQL.
"""

import django.db.models.deletion
from django.db import migrations, models

FULL_INDEXES = [
    ("workflows_flowrun", "parent_id", "workflows_flowrun_parent_id_87cdfd2a"),
    ("workflows_flowrun", "parent_prefect_id", "workflows_flowrun_parent_prefect_id_b06c3244"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("workflows", "0006_drop_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=f'DROP INDEX IF EXISTS "{index}"',
                    reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")',
                )
                for table, column, index in FULL_INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name="flowrun",
                    name="parent",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="subflow_runs",
                        to="workflows.flowrun",
                    ),
                ),
                migrations.AlterField(
                    model_name="flowrun",
                    name="parent_prefect_id",
                    field=models.UUIDField(blank=True, null=True),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="flowrun",
            index=models.Index(
                condition=models.Q(("parent__isnull", False)), fields=["parent"], name="flowrun_parent_idx"
            ),
        ),
        migrations.AddIndex(
            model_name="flowrun",
            index=models.Index(
                condition=models.Q(("parent__isnull", True), ("parent_prefect_id__isnull", False)),
                fields=["parent_prefect_id"],
                name="flowrun_waiting_parent_idx",
            ),
        ),
    ]
