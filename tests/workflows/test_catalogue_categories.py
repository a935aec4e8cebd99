"""The flow catalogue's categories (each deployment's first tag) in the admin and GraphQL."""

from __future__ import annotations

import pytest

from tests.factories import DeploymentFactory
from tests.graphql_client import client_for, graphql_data

pytestmark = pytest.mark.django_db

QUERY = """query ($category: String) { deployments(first: 10, category: $category) {
  edges { node { name category } } } }"""


@pytest.fixture
def catalogue() -> None:
    DeploymentFactory(name="backup-nightly", tags=["system"])
    DeploymentFactory(name="health-check", tags=["system", "monitoring"])
    DeploymentFactory(name="auto-recovery", tags=["recovery"])
    DeploymentFactory(name="untagged", tags=[])


def test_graphql_filters_deployments_by_category(catalogue):
    client = client_for("viewer")
    system = graphql_data(client, QUERY, {"category": "system"})["deployments"]["edges"]
    assert sorted((e["node"]["name"], e["node"]["category"]) for e in system) == [
        ("backup-nightly", "system"), ("health-check", "system")
    ]  # fmt: skip
    every = graphql_data(client, QUERY)["deployments"]["edges"]
    assert {e["node"]["category"] for e in every} == {"system", "recovery", ""}


def test_the_admin_lists_and_filters_deployments_by_category(catalogue):
    client = client_for("viewer")
    page = client.get("/admin/workflows/deployment/?category=recovery").content.decode()
    assert "auto-recovery" in page and "backup-nightly" not in page
    assert 'href="?category=system"' in page  # the filter offers each category
