"""Flows reach the control plane's database through Django: a process that runs flows (the serve process, the
subprocess Prefect starts for each run, a test) configures Django once before any flow module imports a model.

`flows/__init__.py` calls `ensure_django()`, and every catalogue deployment uses a module entrypoint
(`flows.<module>.<flow>`), so Prefect's run subprocess imports the `flows` package first. The database is the one
the environment names (`DATABASE_URL`, as for every other process of the stack)."""

from __future__ import annotations

import os

import django
from django.apps import apps

SETTINGS_MODULE = "controlplane.settings"


def ensure_django() -> None:
    """`django.setup()` once; a no-op where Django is already configured (the web, Celery, pytest-django)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    if not apps.ready:
        django.setup()
