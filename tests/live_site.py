"""A live site for browser tests of the admin: the app served by uvicorn as `make run` serves it, on its own SQLite
database, migrated and seeded with users of each role, mirrored runs, host samples, component health and an alert
(no Prefect: these pages read the database only); and Debian's chromium driven by Playwright.

Import the fixture into a test module: `from tests.live_site import live_site  # noqa: F401` (`browser` is in
tests/conftest.py)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.prefect_helpers import REPO_ROOT
from tests.processes import manage, site_env, start_uvicorn

PASSWORD = "dashboard-Password-for-tests"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
TIMEOUT_MS = 60_000
needs_chromium = pytest.mark.skipif(
    not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)"
)


def save_screenshot(page, name: str, full_page: bool = True) -> None:
    """`var/screenshots/NAME.png` (git-ignored): what the page looked like when the test passed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=full_page)


SEED = f"""
from datetime import timedelta
from django.contrib.auth.models import Group, User
from django.utils import timezone
from monitoring.models import ComponentHealth
from tests.factories import AlertFactory, FlowRunFactory, SystemSampleFactory

for role in ("operator", "viewer"):
    User.objects.create_user(f"dash-{{role}}", password="{PASSWORD}").groups.add(Group.objects.get(name=role))
now = timezone.now()
for index in range(60):
    end = now - timedelta(minutes=23 * index)
    state = "FAILED" if index % 7 == 0 else "CANCELLED" if index % 11 == 0 else "COMPLETED"
    FlowRunFactory(state_type=state, state_name=state.title(), expected_start_time=end - timedelta(minutes=2),
                   end_time=end)
for index in range(3):
    FlowRunFactory(state_type="RUNNING", state_name="Running", end_time=None)
for minute in range(0, 7 * 24 * 60, 30):
    SystemSampleFactory(taken_at=now - timedelta(minutes=minute), cpu_percent=35 + (minute // 30) % 40,
                        memory_percent=55 + (minute // 60) % 10, disk_percent={{"/": 62.0}})
for name, status in [("database", "ok"), ("prefect_api", "ok"), ("broker", "ok"), ("workers", "degraded"),
                     ("beat", "ok"), ("sync", "ok"), ("listener", "ok")]:
    ComponentHealth.objects.create(component=name, status=status, since=now, checked_at=now)
AlertFactory(severity="warning", subject="host:web-1", message="CPU on web-1: 85 %")
"""


@dataclass
class LiveSite:
    url: str


@pytest.fixture(scope="module")
def live_site() -> Iterator[LiveSite]:
    home = Path(tempfile.mkdtemp(prefix="cp-dashboard-"))
    # Prefect is never called: the dashboard reads the database only.
    env = site_env(home, PREFECT_API_URL="http://127.0.0.1:9/api")
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", SEED)
    process, url = start_uvicorn("dashboard", env, home)
    try:
        yield LiveSite(url)
    finally:
        process.stop()


def signed_in(browser, site: LiveSite, role: str, width: int, next_path: str = "/admin/"):
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{site.url}/admin/login/?next={next_path}")
    page.fill("#id_username", f"dash-{role}")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{site.url}{next_path}")
    return page
