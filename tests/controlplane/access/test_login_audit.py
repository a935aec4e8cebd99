"""Logins, logouts, failed logins and django-axes lockouts are written to the audit log (real POSTs to the login
page; django-axes needs the request, so `client.login()` is not used)."""

from __future__ import annotations

import pytest
from django.test import Client

from controlplane.audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN_URL = "/admin/login/"
PASSWORD = "correct horse battery staple"


def _login(client: Client, username: str, password: str) -> int:
    return client.post(LOGIN_URL, {"username": username, "password": password}, REMOTE_ADDR="198.51.100.7").status_code


def _events() -> list[tuple[str, str, str]]:
    return list(AuditEvent.objects.order_by("id").values_list("action", "outcome", "target_id"))


def test_login_and_logout_are_audited():
    user = UserFactory(role="viewer")
    client = Client()
    assert _login(client, user.username, PASSWORD) == 302
    client.post("/admin/logout/")
    assert _events() == [("auth.login", "success", str(user.pk)), ("auth.logout", "success", str(user.pk))]
    login = AuditEvent.objects.get(action="auth.login")
    assert (login.actor_user, login.ip_address) == (user, "198.51.100.7")


def test_failed_login_is_audited_as_denied_without_the_password():
    user = UserFactory(role="viewer")
    assert _login(Client(), user.username, "wrong password") == 200
    (event,) = AuditEvent.objects.all()
    assert (event.action, event.outcome, event.target_id, event.actor_label) == (
        "auth.login_failed",
        "denied",
        user.username,
        "anonymous",
    )
    assert "wrong password" not in str(event.before) + str(event.after) + event.message


def test_lockout_after_repeated_failures_is_audited(settings):
    settings.AXES_FAILURE_LIMIT = 3
    user = UserFactory(role="viewer")
    client = Client()
    for _ in range(3):
        _login(client, user.username, "wrong")
    assert _login(client, user.username, PASSWORD) != 302  # locked out, even with the right password
    actions = [action for action, _, _ in _events()]
    # The attempt made while locked out (right password or not) is a failed login too.
    assert actions.count("auth.login_failed") == 4
    failures = [i for i, action in enumerate(actions) if action == "auth.login_failed"]
    assert failures[1] < actions.index("auth.lockout") < failures[3]  # locked out by the third failure
    assert "auth.login" not in actions
    lockout = AuditEvent.objects.filter(action="auth.lockout").first()
    assert (lockout.outcome, lockout.target_id) == ("denied", user.username)
