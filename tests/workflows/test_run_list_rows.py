"""The run list's rows written by `workflows.run_list_rows` are the markup Django's admin writes, and a deep page
reads its ids before its rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from tests.factories import FlowRunFactory
from workflows.models import FlowRun, StateType

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:workflows_flowrun_changelist")


def table_body(client, params: dict[str, str]) -> str:
    response = client.get(RUNS, params)
    assert response.status_code == 200
    content = response.content.decode()
    return content[content.index("<tbody>") : content.index("</tbody>")]


@pytest.fixture
def varied_runs(monkeypatch):
    """Runs covering every kind of cell; the clock stands still so relative times and durations match."""
    now = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: now)
    FlowRunFactory.create_batch(52, expected_start_time=now - timedelta(hours=3))
    FlowRunFactory(name="<b>\"tricky\" & 'quoted'</b>", expected_start_time=now - timedelta(minutes=1))
    FlowRunFactory(name="   ", deployment=None, expected_start_time=now - timedelta(minutes=2))
    FlowRunFactory(
        name="running", state_type=StateType.RUNNING, state_name="Running", end_time=None,
        expected_start_time=now - timedelta(minutes=7),
    )  # fmt: skip
    FlowRunFactory(name="ghost", deleted_in_prefect=True, expected_start_time=now - timedelta(minutes=3))


LISTS = [
    {},
    {"ghosts": "include", "q": "<b>"},
    {"state_type__exact": "RUNNING"},
    {"p": "2"},
    {"o": "1", "ghosts": "include"},
]


@pytest.mark.parametrize("client_fixture", ["viewer_client", "operator_client"])  # without and with checkboxes
@pytest.mark.parametrize("params", LISTS)
def test_the_run_list_rows_are_the_markup_django_writes(request, varied_runs, client_fixture, params):
    client = request.getfixturevalue(client_fixture)

    ours = table_body(client, params)
    with override_settings(RUN_LIST_PLAIN_ROWS=False):
        djangos = table_body(client, params)

    assert ours.count("<tr>") >= 1
    assert ours == djangos


def test_the_checkbox_is_the_one_django_renders():
    run = FlowRunFactory(name='<i>"x" & y</i>')
    model_admin = admin.site.get_model_admin(FlowRun)

    assert model_admin.action_checkbox(run) == admin.ModelAdmin.action_checkbox(model_admin, run)


def test_a_deep_page_reads_its_ids_then_its_rows_in_the_same_order(viewer_client, django_assert_max_num_queries):
    now = timezone.now()
    for minutes in range(60):
        FlowRunFactory(name=f"run-{minutes:02}", expected_start_time=now - timedelta(minutes=minutes))
    with django_assert_max_num_queries(30) as first:
        assert viewer_client.get(RUNS).status_code == 200

    with django_assert_max_num_queries(30) as second:
        response = viewer_client.get(RUNS, {"p": "2"})

    assert [run.name for run in response.context["cl"].result_list] == [f"run-{m:02}" for m in range(50, 60)]
    assert len(second.captured_queries) == len(first.captured_queries) + 1  # the ids, then the rows
