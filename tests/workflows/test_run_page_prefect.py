"""The run page against real runs of the served flows: the log tail's JSON (level names, only newer lines, when to
stop) and Cancel from the page, through the services, audited; the trigger form's defaults run unchanged."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from django.urls import reverse

from controlplane.audit.models import AuditEvent
from tests.prefect_helpers import wait_until_final
from tests.workflows.real_runs import ETL_DEPLOYMENT, create_run, mirror, slow_run, state_in_prefect
from workflows.models import FlowRun

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def tail(client, run, after: str | None = None) -> dict:
    url = reverse("admin:workflows_flowrun_logs_json", args=[run.pk])
    response = client.get(url, {"after": after} if after else {})
    assert response.status_code == 200, response.content
    return response.json()


def test_the_log_tail_names_levels_returns_only_newer_lines_and_says_when_the_run_finished(deployments, viewer_client):
    run_id = create_run(deployments[ETL_DEPLOYMENT], {"rows": 10})
    unfinished = mirror(run_id)
    wait_until_final(run_id)
    deadline = time.monotonic() + 60
    page = tail(viewer_client, unfinished)
    while not any("loaded" in line["message"] for line in page["lines"]):
        assert time.monotonic() < deadline, page  # Prefect writes a run's logs in batches, after the state
        time.sleep(0.5)
        page = tail(viewer_client, unfinished)

    assert {line["level"] for line in page["lines"]} >= {"INFO"}
    assert not any(line["level"].isdigit() for line in page["lines"])
    assert page["finished"] is False  # the mirror has not seen the end yet: keep tailing
    # Prefect may still be writing the run's last lines: whatever comes after is new, never a line already shown.
    newer = tail(viewer_client, unfinished, after=page["after"])["lines"]
    assert all(instant(line["time"]) > instant(page["after"]) for line in newer)
    shown = {(line["time"], line["message"]) for line in page["lines"]}
    assert not shown & {(line["time"], line["message"]) for line in newer}
    assert tail(viewer_client, mirror(run_id))["finished"] is True


def test_the_trigger_form_submitted_unchanged_runs_with_the_deployments_defaults(deployments, operator_client):
    deployment = deployments[ETL_DEPLOYMENT]
    url = reverse("admin:workflows_deployment_trigger", args=[deployment.pk])
    form = operator_client.get(url).context["form"]
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}

    response = operator_client.post(url, data)

    assert response.status_code == 302, response.context and response.context["form"].errors
    run = FlowRun.objects.get(pk=response["Location"].rstrip("/").split("/")[-2])
    assert run.parameters["rows"] == deployment.default_parameters["rows"] == 1000
    assert run.parameters["batch_size"] == 100


def test_an_operator_cancels_from_the_run_page(deployments, operator_client):
    run = slow_run(deployments)

    response = operator_client.post(reverse("admin:workflows_flowrun_cancel", args=[run.pk]), follow=True)

    [message] = [str(m) for m in response.context["messages"]]
    assert message.startswith(f"Cancellation requested: {run.name} is ")
    assert state_in_prefect(run) in {"CANCELLING", "CANCELLED"}
    event = AuditEvent.objects.filter(action="flow_run.cancel").latest("id")
    assert (event.target_id, event.outcome) == (str(run.prefect_id), "success")
