"""A 403 is a page in the admin's look that says which role grants what was refused (and a JSON body for API-style
requests); the login page says who may sign in, and what is missing for a signed-in account without a role."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import DeploymentFactory, UserFactory
from tests.graphql_client import client_for

pytestmark = pytest.mark.django_db


def test_a_viewer_refused_a_configuration_change_is_told_only_admins_may(viewer_client):
    response = viewer_client.post("/admin/workflows/orchestrationconfig/1/change/", {"retry_attempts": 9})
    page = response.content.decode()
    assert response.status_code == 403
    assert "workflows.change_orchestrationconfig" in page
    assert 'badge badge-info">admin<' in page
    assert 'badge badge-info">operator<' not in page
    assert "theme.css" in page  # the admin's look, not a bare page
    assert 'class="badge">viewer<' in page  # the role the user holds


def test_a_viewer_opening_the_trigger_form_is_told_operators_and_admins_may():
    deployment = DeploymentFactory()
    response = client_for("viewer").get(f"/admin/workflows/deployment/{deployment.pk}/trigger/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "workflows.trigger_run" in page
    assert 'badge badge-info">operator<' in page and 'badge badge-info">admin<' in page


def test_a_viewer_refused_the_audit_log_is_told_admins_and_auditors_may(viewer_client):
    response = viewer_client.get("/admin/controlplane/auditevent/verify/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "controlplane.verify_auditevent" in page
    assert 'badge badge-info">auditor<' in page


def test_a_json_request_gets_the_refusal_as_json(viewer_client):
    response = viewer_client.get("/admin/controlplane/auditevent/verify/", headers={"accept": "application/json"})
    assert response.status_code == 403
    assert response.json()["granted_by"] == ["admin", "auditor"]


def test_the_login_page_says_any_role_may_sign_in_and_what_a_roleless_account_lacks():
    assert "Any account with a role" in Client().get("/admin/login/").content.decode()
    client = Client()
    client.force_login(UserFactory(username="nobody", is_staff=False))
    page = client.get("/admin/login/").content.decode()
    assert "nobody is signed in but has no role yet" in page
