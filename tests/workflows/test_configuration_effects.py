"""Each configuration field does what its label says, in Prefect or in the stack (workflows/models.py help texts).

monitoring_enabled switching the samplers is proven in tests/monitoring/test_sampling_and_health.py; auto-recovery
and retry attempts in tests/flows/test_auto_recovery.py."""

from __future__ import annotations

import pytest

from controlplane.audit.actor import Actor
from tests.factories import UserFactory
from tests.prefect_helpers import TEST_CONCURRENCY_CAP, served_deployments
from tests.workflows.real_runs import mirrored_deployments
from workflows import prefect_api
from workflows.configuration import HEALTH_CHECK_DEPLOYMENT, update_config
from workflows.services import apply_concurrency_cap_everywhere, deployment_concurrency_limit
from workflows.sync import sync_prefect

pytestmark = [pytest.mark.django_db, pytest.mark.prefect]


def health_check_intervals() -> list[float]:
    (deployment,) = [d for d in served_deployments() if d["name"] == HEALTH_CHECK_DEPLOYMENT]
    return [s["schedule"]["interval"] for s in deployment["schedules"]]


def test_health_check_interval_becomes_the_served_deployments_schedule_in_prefect(served_flows):
    served_interval = health_check_intervals()
    try:
        update_config(Actor(user=UserFactory(role="admin")), {"health_check_interval_seconds": 120})

        assert health_check_intervals() == [120]
    finally:
        prefect_api.set_interval_schedules(HEALTH_CHECK_DEPLOYMENT, int(served_interval[0]))


def test_the_sync_re_applies_a_concurrency_cap_prefect_has_lost(served_flows):
    deployments = mirrored_deployments()
    update_config(Actor(user=UserFactory(role="admin")), {"max_concurrent_runs": 7})
    health_check = deployments[HEALTH_CHECK_DEPLOYMENT]
    prefect_api.set_deployment_concurrency_limit(health_check.prefect_id, None)  # as after a Prefect restart
    try:
        sync_prefect()

        assert deployment_concurrency_limit(prefect_api.read_deployment(health_check.prefect_id)) == 7
        health_check.refresh_from_db()
        assert health_check.concurrency_limit == 7
    finally:  # later tests' runs must not wait for a slot under this small cap
        apply_concurrency_cap_everywhere(TEST_CONCURRENCY_CAP)
