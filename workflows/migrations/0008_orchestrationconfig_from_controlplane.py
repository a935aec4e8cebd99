"""OrchestrationConfig joins the workflows app, keeping its table (`controlplane_orchestrationconfig`) and row.

Its content type is relabelled rather than recreated, so the permissions on it (`view_`/`change_orchestrationconfig`)
keep their ids and every group or user holding them keeps them, now as `workflows.*`.
"""

from django.db import migrations, models

MODEL = "orchestrationconfig"


def _relabel(apps, schema_editor, old_label: str, new_label: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(schema_editor.connection.alias)
    if content_types.filter(app_label=new_label, model=MODEL).exists():
        return
    content_types.filter(app_label=old_label, model=MODEL).update(app_label=new_label)


def forwards(apps, schema_editor):
    _relabel(apps, schema_editor, "controlplane", "workflows")


def backwards(apps, schema_editor):
    _relabel(apps, schema_editor, "workflows", "controlplane")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("controlplane", "0004_move_orchestrationconfig_to_workflows"),
        ("workflows", "0007_partial_parent_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OrchestrationConfig",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "max_concurrent_runs",
                            models.PositiveIntegerField(
                                default=5,
                                help_text="Applied as Prefect's own concurrency limit on the work pools we trigger into.",
                            ),
                        ),
                        ("retry_attempts", models.PositiveIntegerField(default=3)),
                        ("health_check_interval_seconds", models.PositiveIntegerField(default=60)),
                        ("auto_recovery_enabled", models.BooleanField(default=False)),
                        ("monitoring_enabled", models.BooleanField(default=True)),
                        ("default_timeout_seconds", models.PositiveIntegerField(default=3600)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "verbose_name": "orchestration configuration",
                        "verbose_name_plural": "orchestration configuration",
                        "db_table": "controlplane_orchestrationconfig",
                    },
                )
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
