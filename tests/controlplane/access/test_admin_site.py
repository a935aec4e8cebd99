"""Giving a user a role is enough to sign in to the admin; a user without a role is told what is missing."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


def _sign_in(username: str):
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": username, "password": PASSWORD})
    return client, response


@pytest.mark.parametrize("role", ["viewer", "operator", "admin", "auditor"])
def test_a_role_without_staff_status_signs_in(role):
    UserFactory(username=f"{role}-person", role=role, is_staff=False)
    client, response = _sign_in(f"{role}-person")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/workflows/flowrun/").status_code == 200


def test_a_user_without_a_role_is_told_what_is_missing():
    UserFactory(username="nobody", is_staff=False)
    _, response = _sign_in("nobody")
    assert response.status_code == 200
    assert "has no role yet" in response.content.decode()
    assert "staff account" not in response.content.decode()


def test_a_wrong_password_still_says_so():
    UserFactory(username="viewer-person", role="viewer", is_staff=False)
    response = Client().post("/admin/login/", {"username": "viewer-person", "password": "wrong"})
    assert "correct username and password" in response.content.decode()
