"""The catalogue: every deployment carries its category, a description and a schedule; a subset can be served."""

from __future__ import annotations

import pytest

from flows.catalogue import CATEGORIES
from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT, build_deployments
from workflows.models import OrchestrationConfig

pytestmark = pytest.mark.django_db


def test_every_deployment_has_a_category_tag_description_schedule_and_module_entrypoint(monkeypatch):
    monkeypatch.delenv("FLOWS_SERVE_ONLY", raising=False)
    deployments = build_deployments()
    assert {HEALTH_CHECK_DEPLOYMENT, ETL_DEPLOYMENT} <= {d.name for d in deployments}
    for deployment in deployments:
        assert deployment.tags[0] in CATEGORIES, deployment.name
        assert deployment.description, deployment.name
        assert deployment.schedules, deployment.name
        assert deployment.entrypoint.startswith("flows."), deployment.entrypoint


def test_health_check_interval_comes_from_the_configuration(monkeypatch):
    monkeypatch.delenv("HEALTH_CHECK_INTERVAL_SECONDS", raising=False)
    OrchestrationConfig.objects.update_or_create(pk=1, defaults={"health_check_interval_seconds": 123})
    (deployment,) = build_deployments(only={HEALTH_CHECK_DEPLOYMENT})
    assert deployment.schedules[0].schedule.interval.total_seconds() == 123


def test_flows_serve_only_serves_the_named_subset_and_refuses_unknown_names(monkeypatch):
    monkeypatch.setenv("FLOWS_SERVE_ONLY", f"{ETL_DEPLOYMENT}")
    assert [d.name for d in build_deployments()] == [ETL_DEPLOYMENT]
    monkeypatch.setenv("FLOWS_SERVE_ONLY", "no-such-deployment")
    with pytest.raises(ValueError, match="no-such-deployment"):
        build_deployments()
