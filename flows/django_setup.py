"""Django for flows that read or write the control plane's database.

A served flow runs in a process Prefect starts, which has not set Django up: a flow module calls `ensure_django()`
before importing models. The process reaches the same database as the control plane through the same environment
(`DATABASE_URL`, see controlplane/settings.py). In the test process Django is already set up, and this does nothing.
"""

from __future__ import annotations

import os


def ensure_django() -> None:
    from django.apps import apps

    if apps.ready:
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    import django

    django.setup()
