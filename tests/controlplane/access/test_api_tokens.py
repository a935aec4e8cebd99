"""API tokens: created with the secret shown once and only its hash stored, revocable, expiring; a Bearer request
acts as the token's user without CSRF, a bad token gets 401, and session requests keep CSRF."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from controlplane.access.models import ApiToken
from controlplane.access.services import authenticate_token, create_api_token, revoke_api_token
from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.exceptions import InvalidInput, PermissionDeniedError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ME = json.dumps({"query": "{ me { username } }"})


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_only_the_hash_is_stored_and_the_secret_is_returned_once():
    user = UserFactory(role="viewer")
    token, secret = create_api_token(Actor(user=user), user, "dashboards")

    stored = ApiToken.objects.get(pk=token.pk)
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in {stored.token_hash, stored.prefix, stored.name}
    assert secret.startswith(stored.prefix)
    event = AuditEvent.objects.get(action="api_token.create")
    assert secret not in json.dumps(event.after)
    assert event.outcome == "success"


def test_any_user_creates_own_tokens_but_only_admins_create_for_others():
    viewer, other = UserFactory(role="viewer"), UserFactory(role="operator")
    with pytest.raises(PermissionDeniedError):
        create_api_token(Actor(user=viewer), other, "sneaky")
    assert AuditEvent.objects.get(action="api_token.create").outcome == "denied"
    assert not ApiToken.objects.exists()

    token, _ = create_api_token(Actor(user=UserFactory(role="admin")), other, "ci")
    assert token.user == other


def test_token_names_are_unique_per_user_and_expiry_must_be_future():
    user = UserFactory(role="viewer")
    create_api_token(Actor(user=user), user, "ci")
    with pytest.raises(InvalidInput) as duplicate:
        create_api_token(Actor(user=user), user, "ci")
    assert "name" in duplicate.value.field_errors
    with pytest.raises(InvalidInput) as past:
        create_api_token(Actor(user=user), user, "old", expires_at=timezone.now() - timedelta(minutes=1))
    assert "expires_at" in past.value.field_errors


def test_authenticate_accepts_active_tokens_and_records_last_use():
    user = UserFactory(role="viewer")
    token, secret = create_api_token(Actor(user=user), user, "ci")
    assert token.last_used_at is None
    assert authenticate_token(secret) == token
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None
    assert authenticate_token(secret + "x") is None
    assert authenticate_token("not-a-token") is None


def test_last_use_is_written_at_most_once_a_minute(django_assert_num_queries):
    user = UserFactory(role="viewer")
    token, secret = create_api_token(Actor(user=user), user, "poller")
    authenticate_token(secret)
    with django_assert_num_queries(1):  # the lookup only: a poller costs no write per request
        authenticate_token(secret)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    with django_assert_num_queries(2):
        authenticate_token(secret)
    assert timezone.now() - ApiToken.objects.get(pk=token.pk).last_used_at < timedelta(seconds=5)


def test_expired_revoked_and_inactive_users_tokens_do_not_authenticate():
    user = UserFactory(role="viewer")
    expiring, expiring_secret = create_api_token(
        Actor(user=user), user, "short", expires_at=timezone.now() + timedelta(seconds=30)
    )
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert authenticate_token(expiring_secret) is None

    revoked, revoked_secret = create_api_token(Actor(user=user), user, "revoked")
    revoke_api_token(Actor(user=user), revoked)
    assert authenticate_token(revoked_secret) is None
    assert AuditEvent.objects.filter(action="api_token.revoke", outcome="success").count() == 1

    _, secret = create_api_token(Actor(user=user), user, "inactive")
    user.is_active = False
    user.save()
    assert authenticate_token(secret) is None


def test_only_owner_or_admin_revokes_and_twice_is_an_error():
    owner = UserFactory(role="operator")
    token, _ = create_api_token(Actor(user=owner), owner, "ci")
    with pytest.raises(PermissionDeniedError):
        revoke_api_token(Actor(user=UserFactory(role="operator")), token)
    revoke_api_token(Actor(user=UserFactory(role="admin")), token)
    with pytest.raises(InvalidInput, match="already revoked"):
        revoke_api_token(Actor(user=owner), token)
    outcomes = list(
        AuditEvent.objects.filter(action="api_token.revoke").order_by("id").values_list("outcome", flat=True)
    )
    assert outcomes == ["denied", "success", "error"]


# --- Over HTTP ----------------------------------------------------------------------------------------------------


def test_bearer_request_acts_as_the_tokens_user_without_csrf():
    user = UserFactory(role="operator")
    _, secret = create_api_token(Actor(user=user), user, "ci")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/graphql/", ME, content_type="application/json", headers=_bearer(secret))
    assert response.status_code == 200, response.content
    assert response.json()["data"]["me"]["username"] == user.username


@pytest.mark.parametrize("state", ["unknown", "revoked", "expired"])
def test_bad_token_is_refused_with_401_not_treated_as_anonymous(state):
    user = UserFactory(role="operator")
    token, secret = create_api_token(Actor(user=user), user, "ci")
    if state == "unknown":
        secret = "cpt_" + "x" * 43
    elif state == "revoked":
        revoke_api_token(Actor(user=user), token)
    else:
        ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Client().post("/graphql/", ME, content_type="application/json", headers=_bearer(secret))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "Invalid, expired or revoked" in response.json()["errors"][0]["message"]


def test_session_requests_still_need_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(role="operator"))
    response = client.post("/graphql/", ME, content_type="application/json")
    assert response.status_code == 403


def test_token_use_is_attributed_in_audit_events():
    user = UserFactory(role="viewer")
    token, secret = create_api_token(Actor(user=user), user, "ci")
    mutation = json.dumps({"query": 'mutation { createApiToken(name: "second") { __typename } }'})
    Client().post("/graphql/", mutation, content_type="application/json", headers=_bearer(secret))
    event = AuditEvent.objects.filter(actor_token=token).order_by("-id").first()
    assert event is not None, list(AuditEvent.objects.values_list("action", "actor_label"))
    assert event.actor_user == user and event.actor_label == f"{user.username} (token:ci)"


# --- Admin --------------------------------------------------------------------------------------------------------


def test_admin_shows_the_new_secret_once_and_stores_only_its_hash():
    user = UserFactory(role="viewer")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/admin/controlplane/apitoken/add/", {"user": user.pk, "name": "laptop", "expires_at_0": "", "expires_at_1": ""}
    )
    assert response.status_code == 200, response.content[:2000]
    secret = response.context["secret"]
    assert secret in response.content.decode()
    token = ApiToken.objects.get(name="laptop")
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    listing = client.get("/admin/controlplane/apitoken/").content.decode()
    assert "laptop" in listing and secret not in listing


def test_non_admins_see_and_create_only_their_own_tokens():
    viewer, other = UserFactory(role="viewer"), UserFactory(role="operator")
    create_api_token(Actor(user=other), other, "others-token")
    client = Client()
    client.force_login(viewer)
    assert "others-token" not in client.get("/admin/controlplane/apitoken/").content.decode()
    response = client.post("/admin/controlplane/apitoken/add/", {"user": other.pk, "name": "x"})
    assert response.status_code == 200 and response.context["adminform"].form.errors["user"]
    assert not ApiToken.objects.filter(name="x").exists()


def test_admin_revoke_action():
    owner = UserFactory(role="operator")
    token, _ = create_api_token(Actor(user=owner), owner, "ci")
    client = Client()
    client.force_login(UserFactory(role="admin"))
    data = {"action": "revoke_selected_tokens", "_selected_action": [token.pk], "index": "0"}
    client.post("/admin/controlplane/apitoken/", data)
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
