"""The operator's run list, run page and deployment pages, read from the mirror (no Prefect call needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.audit.models import AuditEvent
from tests.factories import DeploymentFactory, FlowRunFactory
from tests.graphql_client import graphql_data
from workflows.models import StateType

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:workflows_flowrun_changelist")


def listed(client, **params) -> list[str]:
    response = client.get(RUNS, params)
    assert response.status_code == 200
    return [run.name for run in response.context["cl"].result_list]


def scheduled(name: str, in_minutes: float, **fields):
    when = timezone.now() + timedelta(minutes=in_minutes)
    values = {"state_type": StateType.SCHEDULED, "state_name": "Scheduled", "start_time": None, "end_time": None}
    return FlowRunFactory(name=name, expected_start_time=when, **{**values, **fields})


def test_the_default_run_list_shows_what_happened_newest_first_and_hides_upcoming_runs_and_ghosts(viewer_client):
    now = timezone.now()
    FlowRunFactory(name="older", expected_start_time=now - timedelta(hours=2))
    FlowRunFactory(name="newer", expected_start_time=now - timedelta(minutes=1))
    scheduled("tomorrow", 24 * 60)
    scheduled("in-an-hour", 60)
    FlowRunFactory(name="ghost", deleted_in_prefect=True)

    assert listed(viewer_client) == ["newer", "older"]
    assert listed(viewer_client, view="upcoming") == ["in-an-hour", "tomorrow"]
    assert listed(viewer_client, ghosts="only") == ["ghost"]
    assert set(listed(viewer_client, view="all", ghosts="include")) == {
        "older",
        "newer",
        "tomorrow",
        "in-an-hour",
        "ghost",
    }


def test_a_search_by_prefect_id_finds_the_run_in_any_view(viewer_client):
    upcoming = scheduled("next-week", 7 * 24 * 60)
    ghost = FlowRunFactory(name="ghost", deleted_in_prefect=True)

    assert listed(viewer_client, q=str(upcoming.prefect_id)) == ["next-week"]
    assert listed(viewer_client, q=str(ghost.prefect_id)) == ["ghost"]


def test_quick_views_list_running_recent_failures_and_late_runs(viewer_client):
    now = timezone.now()
    FlowRunFactory(name="running", state_type=StateType.RUNNING, state_name="Running", end_time=None)
    FlowRunFactory(name="failed-now", state_type=StateType.FAILED, state_name="Failed")
    FlowRunFactory(
        name="failed-days-ago", state_type=StateType.FAILED, state_name="Failed",
        expected_start_time=now - timedelta(days=3),
    )  # fmt: skip
    scheduled("late", -10, state_name="Late")
    scheduled("on-time", 10)

    assert listed(viewer_client, view="running") == ["running"]
    assert listed(viewer_client, view="failed24h") == ["failed-now"]
    assert listed(viewer_client, view="late") == ["late"]


def test_run_list_shows_badges_relative_times_with_exact_titles_and_durations(viewer_client):
    FlowRunFactory(name="done", total_run_time=75.0)

    page = viewer_client.get(RUNS).content.decode()

    assert 'class="run-state run-state--completed"' in page
    assert "min ago" in page and 'title="20' in page  # "5 min ago", the exact time to the second in its title
    assert "1 min 15 s" in page
    assert 'id="run-views"' in page and "workflows/runs.css" in page


def test_the_run_page_shows_parameters_subflows_prefect_link_and_a_log_tail(viewer_client):
    parent = FlowRunFactory(name="parent-run", parameters={"rows": 1000, "batch_size": 100})
    child = FlowRunFactory(name="child-run", parent=parent)

    page = viewer_client.get(reverse("admin:workflows_flowrun_change", args=[parent.pk])).content.decode()
    child_page = viewer_client.get(reverse("admin:workflows_flowrun_change", args=[child.pk])).content.decode()

    assert "&quot;rows&quot;: 1000" in page and "&quot;batch_size&quot;: 100" in page
    assert reverse("admin:workflows_flowrun_change", args=[child.pk]) in page.split('id="subflow-runs"')[1]
    assert f'href="/prefect/runs/flow-run/{parent.prefect_id}"' in page
    assert reverse("admin:workflows_flowrun_logs_json", args=[parent.pk]) in page
    assert 'id="parent-run"' in child_page and "parent-run" in child_page


def test_the_run_page_shows_where_prefect_keeps_the_result_or_says_there_is_none(viewer_client):
    reference = {"storage_key": "/results/4f2a", "serializer": {"type": "pickle"}}
    kept = FlowRunFactory(extra={"result": reference})
    unkept = FlowRunFactory()

    def result(run) -> str:
        page = viewer_client.get(reverse("admin:workflows_flowrun_change", args=[run.pk])).content.decode()
        return page.split('id="run-result"')[1].split("</")[0]

    assert "/results/4f2a" in result(kept)
    assert "Prefect persisted no result for this run." in result(unkept)


def test_operators_see_cancel_on_an_active_run_and_retry_on_a_failed_one_viewers_see_neither(
    viewer_client, operator_client
):
    running = FlowRunFactory(state_type=StateType.RUNNING, state_name="Running", end_time=None)
    failed = FlowRunFactory(state_type=StateType.FAILED, state_name="Failed")
    ghost = FlowRunFactory(state_type=StateType.SCHEDULED, deleted_in_prefect=True)

    def page(client, run) -> str:
        return client.get(reverse("admin:workflows_flowrun_change", args=[run.pk])).content.decode()

    assert 'id="cancel-run"' in page(operator_client, running) and 'id="retry-run"' not in page(
        operator_client, running
    )
    assert 'id="retry-run"' in page(operator_client, failed) and 'id="cancel-run"' not in page(operator_client, failed)
    assert 'id="cancel-run"' not in page(operator_client, ghost)
    for run in (running, failed):
        assert 'id="cancel-run"' not in page(viewer_client, run) and 'id="retry-run"' not in page(viewer_client, run)


def test_a_cancel_forged_by_a_viewer_is_refused_with_403_and_audited(viewer_client):
    run = FlowRunFactory(state_type=StateType.RUNNING, state_name="Running", end_time=None)

    response = viewer_client.post(reverse("admin:workflows_flowrun_cancel", args=[run.pk]))

    assert response.status_code == 403
    event = AuditEvent.objects.order_by("-id").first()
    assert (event.action, event.outcome, event.target_id) == ("flow_run.cancel", "denied", str(run.prefect_id))


def test_cancelling_a_ghost_says_prefect_deleted_it(operator_client):
    ghost = FlowRunFactory(name="gleaming-tench", state_type=StateType.SCHEDULED, deleted_in_prefect=True)

    response = operator_client.post(reverse("admin:workflows_flowrun_cancel", args=[ghost.pk]), follow=True)

    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Cannot cancel run gleaming-tench: Prefect has deleted it (only our record is left)."]
    assert AuditEvent.objects.order_by("-id").first().outcome == "denied"


def test_graphql_flow_runs_hide_ghosts_unless_asked(viewer_client):
    FlowRunFactory(name="live")
    FlowRunFactory(name="ghost", deleted_in_prefect=True)
    query = "query($f: FlowRunFilter) { flowRuns(filter: $f) { totalCount edges { node { name } } } }"

    def names(run_filter) -> set[str]:
        data = graphql_data(viewer_client, query, {"f": run_filter})["flowRuns"]
        return {edge["node"]["name"] for edge in data["edges"]}

    assert names(None) == {"live"}
    assert names({"deletedInPrefect": True}) == {"ghost"}
    assert names({"deletedInPrefect": None}) == {"live", "ghost"}


def test_deployments_show_last_and_next_run_success_rate_and_a_link_to_their_runs(viewer_client):
    deployment = DeploymentFactory(schedules_summary="every 1h")
    FlowRunFactory(deployment=deployment, name="ok-1", expected_start_time=timezone.now() - timedelta(hours=3))
    FlowRunFactory(
        deployment=deployment, name="bad", state_type=StateType.FAILED, state_name="Failed",
        expected_start_time=timezone.now() - timedelta(hours=2),
    )  # fmt: skip
    last = FlowRunFactory(deployment=deployment, name="ok-2", expected_start_time=timezone.now() - timedelta(hours=1))
    scheduled("next-one", 30, deployment=deployment)

    page = viewer_client.get(reverse("admin:workflows_deployment_changelist")).content.decode()

    assert reverse("admin:workflows_flowrun_change", args=[last.pk]) in page
    assert "67%" in page and "every 1h" in page and "in 29 min" in page
    assert f"?deployment__id__exact={deployment.pk}" in page


def test_the_trigger_form_starts_from_the_deployment_defaults_then_the_function_defaults(operator_client):
    schema = {
        "type": "object",
        "properties": {
            "rows": {"type": "integer", "default": 100, "description": "How many rows"},
            "batch_size": {"type": "integer", "default": 25},
            "mode": {"allOf": [{"$ref": "#/definitions/Mode"}], "default": "fast"},
        },
        "definitions": {"Mode": {"enum": ["fast", "thorough"], "type": "string", "title": "Mode"}},
    }
    deployment = DeploymentFactory(parameter_openapi_schema=schema, default_parameters={"rows": 1000})

    response = operator_client.get(reverse("admin:workflows_deployment_trigger", args=[deployment.pk]))

    form = response.context["form"]
    assert form["param_rows"].initial == "1000"
    assert form["param_batch_size"].initial == "25"
    assert [value for value, _ in form.fields["param_mode"].choices] == ["", "fast", "thorough"]
    assert "How many rows" in response.content.decode()
