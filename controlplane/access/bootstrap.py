"""First-run setup: the first admin user, created once with a password from the environment or generated.

A generated password is also kept in `var/first-admin.txt` (mode 0600) until that admin first logs in, so a first
start that fails after creating the admin (a port taken, Prefect not coming up) cannot lose it for good.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
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


def first_admin_credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "first-admin.txt"


def save_first_admin_credentials(admin: FirstAdmin) -> Path:
    """Write the new admin's credentials where only this account's owner can read them."""
    path = first_admin_credentials_file()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as credentials:
        credentials.write(f"username: {admin.username}\npassword: {admin.password}\n")
    path.chmod(0o600)
    return path


def forget_first_admin_credentials(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """`user_logged_in`: once the first admin has logged in, its password is no longer kept on disk."""
    path = first_admin_credentials_file()
    try:
        first_line = path.read_text().splitlines()[0]
    except (OSError, IndexError):
        return
    if first_line == f"username: {user.get_username()}":
        path.unlink(missing_ok=True)


def connect() -> None:
    from django.contrib.auth.signals import user_logged_in

    user_logged_in.connect(forget_first_admin_credentials, dispatch_uid="controlplane.forget_first_admin")
