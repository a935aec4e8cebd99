"""Ghosts against the real Prefect test server: Prefect deletes and regenerates a deployment's auto-scheduled runs
whenever it is re-served, its schedule changes or the concurrency cap is applied; none of those may leave a ghost in
the default run list or in GraphQL `flowRuns`, while a run that ran and was deleted stays, marked."""

from __future__ import annotations

from uuid import uuid4

import pytest
from django.urls import reverse

from tests.graphql_client import graphql_data
from tests.prefect_helpers import (
    TEST_CONCURRENCY_CAP,
    create_deployment_in_prefect,
    create_flow_run_in_prefect,
    delete_flow_run_in_prefect,
    prefect_post,
    prefect_request,
    set_state_in_prefect,
)
from workflows.models import Deployment, FlowRun
from workflows.services import apply_concurrency_cap_everywhere
from workflows.sync import sync_prefect

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]

HOURLY = [{"schedule": {"interval": 3600}, "active": True}]
EVERY_TWO_HOURS = [{"schedule": {"interval": 7200}, "active": True}]


def auto_scheduled_ids_in_prefect(deployment_id: str) -> set[str]:
    body = {"deployments": {"id": {"any_": [deployment_id]}}, "flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
    response = prefect_request("POST", "/flow_runs/filter", body)
    response.raise_for_status()
    return {run["id"] for run in response.json() if run.get("auto_scheduled")}


def schedule_runs(deployment_id: str) -> set[str]:
    """What Prefect's scheduler service does on its next loop: (re)create the deployment's upcoming runs."""
    prefect_post(f"/deployments/{deployment_id}/schedule", {"min_runs": 3, "max_runs": 3})
    return auto_scheduled_ids_in_prefect(deployment_id)


def mirrored_ids(deployment_id: str, **filters) -> set[str]:
    runs = FlowRun.objects.filter(deployment__prefect_id=deployment_id, **filters)
    return {str(prefect_id) for prefect_id in runs.values_list("prefect_id", flat=True)}


def assert_no_ghost_listed(client, deployment_pk: int) -> None:
    page = client.get(
        reverse("admin:workflows_flowrun_changelist"), {"view": "all", "deployment__id__exact": deployment_pk}
    )
    assert not [run.name for run in page.context["cl"].result_list if run.deleted_in_prefect]
    query = "{ flowRuns(first: 100) { edges { node { prefectId deletedInPrefect } } } }"
    nodes = [edge["node"] for edge in graphql_data(client, query)["flowRuns"]["edges"]]
    assert not [node for node in nodes if node["deletedInPrefect"]]


def test_regenerated_auto_scheduled_runs_leave_no_ghosts_and_a_run_that_ran_is_kept_marked(
    prefect_server, viewer_client
):
    name = f"ghosts-{uuid4().hex[:8]}"
    deployment = create_deployment_in_prefect(name, schedules=HOURLY)
    first = schedule_runs(deployment["id"])
    ran = create_flow_run_in_prefect(deployment, f"{name}-ran")
    for state_type, state_name in (("PENDING", "Pending"), ("RUNNING", "Running"), ("COMPLETED", "Completed")):
        set_state_in_prefect(ran["id"], state_type, state_name)
    sync_prefect()
    assert first and first <= mirrored_ids(deployment["id"])
    mirrored_deployment = Deployment.objects.get(prefect_id=deployment["id"])

    # The concurrency cap applied (our service): Prefect deletes the auto-scheduled runs and regenerates them.
    apply_concurrency_cap_everywhere(TEST_CONCURRENCY_CAP)
    second = schedule_runs(deployment["id"])
    sync_prefect()
    # Re-served: `serve()` upserts the deployment, with the same effect.
    create_deployment_in_prefect(name, schedules=HOURLY)
    third = schedule_runs(deployment["id"])
    # The schedule changed.
    prefect_request("PATCH", f"/deployments/{deployment['id']}", {"schedules": EVERY_TWO_HOURS}).raise_for_status()
    fourth = schedule_runs(deployment["id"])
    sync_prefect()

    assert first.isdisjoint(fourth) and second.isdisjoint(fourth) and third.isdisjoint(fourth)
    live = mirrored_ids(deployment["id"], deleted_in_prefect=False)
    assert fourth | {ran["id"]} <= live <= auto_scheduled_ids_in_prefect(deployment["id"]) | {ran["id"]}
    assert not mirrored_ids(deployment["id"], deleted_in_prefect=True)
    assert_no_ghost_listed(viewer_client, mirrored_deployment.pk)

    # A run that ran and was then deleted in Prefect is history: kept, marked, and listed only when asked for.
    delete_flow_run_in_prefect(ran["id"])
    sync_prefect(full=True)
    assert mirrored_ids(deployment["id"], deleted_in_prefect=True) == {ran["id"]}
    assert_no_ghost_listed(viewer_client, mirrored_deployment.pk)
