"""Secret block values leave Prefect only for admins: for anyone else the gateway turns `include_secrets` off."""

from __future__ import annotations

import pytest

from tests.prefect_helpers import prefect_post, prefect_request

pytestmark = pytest.mark.prefect
SECRET = "s3cr3t-value-of-the-gateway-test"


@pytest.fixture(scope="module")
def secret_block(prefect_server) -> dict:
    block_type = prefect_request("GET", "/block_types/slug/secret").json()
    [schema] = prefect_post("/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}})
    body = {"name": "gw-secret", "block_schema_id": schema["id"], "block_type_id": block_type["id"]}
    return prefect_post("/block_documents/", {**body, "data": {"value": SECRET}})


def test_secret_values_only_for_admins(gateway, secret_block):
    url = f"/prefect/api/block_documents/{secret_block['id']}?include_secrets=true"
    viewer = gateway.as_role("viewer").get(url)
    assert viewer.status_code == 200 and SECRET not in viewer.text
    assert viewer.headers["x-gateway-secrets-stripped"] == "true"
    filtered = gateway.as_role("operator").post("/prefect/api/block_documents/filter", json={"include_secrets": True})
    assert filtered.status_code == 200 and SECRET not in filtered.text
    assert secret_block["id"] in filtered.text
    admin = gateway.as_role("admin").get(url)
    assert admin.status_code == 200 and admin.json()["data"]["value"] == SECRET
