"""Users' permissions are read from the database once, then from the shared cache, and every change that grants or
takes away a permission applies at once — to a freshly loaded user, as each request loads it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from controlplane.access.auth_backend import GENERATION_KEY
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TRIGGER = "workflows.trigger_run"
VIEW_RUNS = "workflows.view_flowrun"


def _as_a_request_loads_it(user: User) -> User:
    """A new user object, as the next request gets it (Django's per-object permission cache empty)."""
    return User.objects.get(pk=user.pk)


def _permission_queries(user: User, permission: str) -> tuple[bool, int]:
    with CaptureQueriesContext(connection) as queries:
        allowed = user.has_perm(permission)
    return allowed, len(queries)


def _grant(user: User, role: str) -> None:
    user.groups.add(Group.objects.get(name=role))


# Real commits: a transaction that changed permissions reads them uncached until it ends (pytest-django's default
# wraps each test in one that never commits). The flush after each such test re-creates the roles (post_migrate).
committed = pytest.mark.django_db(transaction=True)


@committed
def test_a_second_request_reads_the_permissions_without_a_query():
    user = UserFactory()
    _grant(user, "operator")

    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 0)
    assert _permission_queries(_as_a_request_loads_it(user), "controlplane.view_auditevent") == (False, 0)


def test_joining_and_leaving_a_group_applies_at_once():
    user = UserFactory()
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)

    _grant(user, "operator")
    assert _as_a_request_loads_it(user).has_perm(TRIGGER)

    user.groups.clear()
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)

    Group.objects.get(name="viewer").user_set.add(user)  # the reverse side of the same relation
    assert _as_a_request_loads_it(user).has_perm(VIEW_RUNS)
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)


def _granting_and_taking_back_applies_at_once(user: User, permissions: Any) -> Permission:
    """Add the trigger permission to `permissions` (a user's or a group's), then remove it; check the user each time."""
    trigger = Permission.objects.get(codename="trigger_run", content_type__app_label="workflows")
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)

    permissions.add(trigger)
    assert _as_a_request_loads_it(user).has_perm(TRIGGER)

    permissions.remove(trigger)
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)
    return trigger


def test_a_change_to_a_groups_permissions_applies_to_its_members_at_once():
    user = UserFactory()
    group = Group.objects.create(name="night-shift")
    user.groups.add(group)
    trigger = _granting_and_taking_back_applies_at_once(user, group.permissions)

    group.permissions.add(trigger)
    assert _as_a_request_loads_it(user).has_perm(TRIGGER)
    group.delete()
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)


def test_a_users_own_permissions_apply_at_once():
    user = UserFactory()
    _granting_and_taking_back_applies_at_once(user, user.user_permissions)


def test_superuser_and_active_flags_are_read_from_the_user_row_not_the_cache():
    user = UserFactory(is_superuser=True)
    assert TRIGGER in _as_a_request_loads_it(user).get_all_permissions()

    User.objects.filter(pk=user.pk).update(is_superuser=False)  # no signal: the key holds is_superuser
    assert TRIGGER not in _as_a_request_loads_it(user).get_all_permissions()

    _grant(user, "operator")
    assert _as_a_request_loads_it(user).has_perm(TRIGGER)
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)


def test_a_new_user_never_gets_the_cached_permissions_of_an_earlier_id():
    user = UserFactory()
    _grant(user, "admin")
    assert _as_a_request_loads_it(user).has_perm(TRIGGER)
    generation = cache.get(GENERATION_KEY)

    UserFactory()
    assert cache.get(GENERATION_KEY) != generation


def test_a_change_resets_the_generation_other_processes_read():
    """Other processes share the cache, not this process's memory: the change must reach the cache itself."""
    user = UserFactory()
    before = cache.get(GENERATION_KEY)
    _grant(user, "viewer")
    after_change = cache.get(GENERATION_KEY)
    assert after_change is not None and after_change != before


def test_a_broken_cache_falls_back_to_the_database(monkeypatch):
    user = UserFactory()
    _grant(user, "operator")

    def broken(*args, **kwargs):
        raise ConnectionError("cache server down")

    monkeypatch.setattr(cache, "get", broken)
    monkeypatch.setattr(cache, "set", broken)
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)


def test_a_permission_read_inside_a_rolled_back_change_is_not_kept():
    user = UserFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        _grant(user, "operator")
        assert _as_a_request_loads_it(user).has_perm(TRIGGER)  # the transaction sees its own change
        raise RuntimeError("the change is rolled back")
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)


@committed
def test_after_the_commit_the_changed_permissions_are_cached_again():
    user = UserFactory()
    with transaction.atomic():
        _grant(user, "operator")
        assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)
        assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)  # not cached mid-change
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 0)


@committed
def test_a_change_that_sends_no_signal_applies_within_the_cache_lifetime(settings):
    """Rows of the relation tables written directly send no Django signal; the cache's lifetime bounds them."""
    settings.PERMISSIONS_CACHE_SECONDS = 1
    user = UserFactory()
    _grant(user, "operator")
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER)[0]
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 0)  # cached

    User.groups.through.objects.filter(user=user).delete()
    time.sleep(1.5)
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)


def test_a_renamed_permission_applies_at_once():
    user = UserFactory()
    _grant(user, "operator")
    assert _as_a_request_loads_it(user).has_perm(TRIGGER)
    trigger = Permission.objects.get(codename="trigger_run", content_type__app_label="workflows")
    trigger.codename = "trigger_run_renamed"
    trigger.save()
    assert not _as_a_request_loads_it(user).has_perm(TRIGGER)
    assert _as_a_request_loads_it(user).has_perm("workflows.trigger_run_renamed")


@committed
def test_manual_transactions_can_change_users_and_read_fresh_permissions():
    transaction.set_autocommit(False)
    try:
        user = UserFactory()
        _grant(user, "operator")
        assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)
        assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)  # uncommitted: not cached
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 2)
    assert _permission_queries(_as_a_request_loads_it(user), TRIGGER) == (True, 0)


def test_deployments_sharing_one_cache_never_share_a_users_permissions(settings):
    from controlplane.access.auth_backend import _permissions_key

    user = UserFactory()
    ours = _permissions_key(user)
    settings.SECRET_KEY = "another deployment's secret key"
    assert _permissions_key(user) != ours
