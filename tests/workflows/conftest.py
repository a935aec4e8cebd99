"""Fixtures shared by the workflows tests that run against the real Prefect test server and the served flows."""

from __future__ import annotations

import pytest

from tests.prefect_helpers import TEST_CONFIG
from tests.workflows.operation_runs import idle_deployment, operator, prefect_requests
from tests.workflows.real_runs import mirrored_deployments
from workflows.models import Deployment, OrchestrationConfig

__all__ = ["idle_deployment", "operator", "prefect_requests"]  # fixtures defined beside the helpers they use


@pytest.fixture
def deployments(served_flows) -> dict[str, Deployment]:
    """The served deployments (health-check, etl-hourly), resumed and mirrored, under the tests' generous cap (the
    first trigger writes it to Prefect, whatever an earlier test left there)."""
    OrchestrationConfig.objects.update_or_create(pk=1, defaults=TEST_CONFIG)
    return mirrored_deployments()
