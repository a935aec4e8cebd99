"""First-run setup: the first admin user, created once with a password from the environment or generated."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from controlplane.access.roles import ADMIN


@dataclass(frozen=True)
class FirstAdmin:
    username: str
    password: str | None  # None when the user already existed: its password is not ours to show
    created: bool


def ensure_first_admin(username: str, password: str | None = None) -> FirstAdmin:
    """Create the admin user `username` unless it exists. Without `password`, a random one is generated and
    returned, so the caller can print it once."""
    user_model = get_user_model()
    with transaction.atomic():
        if user_model.objects.filter(username=username).exists():
            return FirstAdmin(username, None, created=False)
        password = password or secrets.token_urlsafe(12)
        user = user_model.objects.create_superuser(username=username, email="", password=password)
        user.groups.add(Group.objects.get(name=ADMIN))
    return FirstAdmin(username, password, created=True)
