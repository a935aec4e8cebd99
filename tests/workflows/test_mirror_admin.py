"""The read-only mirror admin: fast on big tables, searchable by run name prefix or Prefect id, never editable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import DeploymentFactory, FlowRunFactory, UserFactory
from workflows.models import FlowRunStateChange, StateType, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client):
    client.force_login(UserFactory(role="viewer"))
    return client


def test_run_list_costs_the_same_queries_for_few_or_many_runs(viewer_client, django_assert_max_num_queries):
    deployment = DeploymentFactory()
    FlowRunFactory.create_batch(3, deployment=deployment)
    url = reverse("admin:workflows_flowrun_changelist")
    with django_assert_max_num_queries(30) as few:
        assert viewer_client.get(url).status_code == 200
    FlowRunFactory.create_batch(60, deployment=deployment)
    FlowRunFactory.create_batch(10)  # other deployments, flows, pools

    with django_assert_max_num_queries(30) as many:
        response = viewer_client.get(url)

    assert response.status_code == 200
    assert len(many.captured_queries) <= len(few.captured_queries) + 2  # the filter lists grow, not per row
    assert not any("COUNT(*)" in q["sql"] and "GROUP BY" in q["sql"] for q in many.captured_queries)  # no facets


def test_runs_are_found_by_prefect_id_or_name_prefix(viewer_client):
    wanted = FlowRunFactory(name="nightly-load-42")
    FlowRunFactory(name="hourly-extract")
    url = reverse("admin:workflows_flowrun_changelist")

    by_id = viewer_client.get(url, {"q": str(wanted.prefect_id)})
    by_prefix = viewer_client.get(url, {"q": "nightly"})
    by_middle = viewer_client.get(url, {"q": "load"})

    assert list(by_id.context["cl"].result_list) == [wanted]
    assert list(by_prefix.context["cl"].result_list) == [wanted]
    assert list(by_middle.context["cl"].result_list) == []


def test_runs_filter_by_state(viewer_client):
    failed = FlowRunFactory(state_type=StateType.FAILED, state_name="Failed")
    FlowRunFactory(state_type=StateType.COMPLETED)

    response = viewer_client.get(reverse("admin:workflows_flowrun_changelist"), {"state_type__exact": "FAILED"})

    assert list(response.context["cl"].result_list) == [failed]


def test_a_run_page_shows_its_state_history_read_only(viewer_client):
    run = FlowRunFactory()
    at = timezone.now().replace(microsecond=0)
    FlowRunStateChange.objects.create(
        flow_run=run, from_state_type="PENDING", to_state_type="RUNNING", to_state_name="Running", at=at
    )
    FlowRunStateChange.objects.create(
        flow_run=run, from_state_type="RUNNING", to_state_type="COMPLETED", to_state_name="Completed",
        at=at + timedelta(seconds=7),
    )  # fmt: skip

    response = viewer_client.get(reverse("admin:workflows_flowrun_change", args=[run.pk]))

    assert response.status_code == 200
    timeline = response.content.decode().split('id="run-timeline"')[1].split("</ol>")[0]
    assert timeline.index("Running") < timeline.index("Completed")
    assert timezone.localtime(at + timedelta(seconds=7)).strftime("%H:%M:%S") in timeline
    assert "+7.0 s" in timeline
    assert b'name="_save"' not in response.content


def test_mirror_rows_cannot_be_added_changed_or_deleted_even_by_an_admin(client):
    client.force_login(UserFactory(role="admin", is_superuser=True))
    run = FlowRunFactory()

    assert client.get(reverse("admin:workflows_flowrun_add")).status_code == 403
    assert client.post(reverse("admin:workflows_flowrun_delete", args=[run.pk])).status_code == 403
    response = client.post(reverse("admin:workflows_flowrun_change", args=[run.pk]), {"name": "renamed"})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.name != "renamed"


def test_sync_status_shows_lag_and_failing_streams(viewer_client):
    now = timezone.now()
    SyncStatus.objects.create(stream="flow_runs", last_success_at=now - timedelta(seconds=42))
    SyncStatus.objects.create(
        stream="events", last_success_at=now - timedelta(minutes=5), last_error="Prefect down", last_error_at=now
    )

    response = viewer_client.get(reverse("admin:workflows_syncstatus_changelist"))

    content = response.content.decode()
    assert "42s" in content or "43s" in content
    assert "Prefect down" in content
    assert 'alt="False"' in content and 'alt="True"' in content
