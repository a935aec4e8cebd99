"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright) against the app served by
uvicorn as `make run` serves it: an operator opens it, sees the figures and the charts, and sees it refresh in place
("Updated …" changes without a reload). Screenshots at 1280 and 390 px go to var/screenshots/ (git-ignored).

The live server needs no Prefect: the dashboard reads the mirror and monitoring's tables, seeded here."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import manage, start_uvicorn
from tests.prefect_helpers import REPO_ROOT

PASSWORD = "dashboard-Password-for-tests"
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
TIMEOUT_MS = 60_000
needs_chromium = pytest.mark.skipif(
    not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)"
)
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
    env = {
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "DATABASE_URL": f"sqlite:///{home / 'controlplane.sqlite3'}",
        "VAR_DIR": str(home),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
        "CACHE_URL": f"filecache://{home / 'cache'}",
        "PREFECT_API_URL": "http://127.0.0.1:9/api",  # never called: the dashboard reads the database only
    }
    manage(env, "migrate", "--noinput")
    manage(env, "shell", "-c", SEED)
    process, url = start_uvicorn("dashboard", env, home)
    try:
        yield LiveSite(url)
    finally:
        process.stop()


def test_the_live_server_serves_the_dashboard_its_figures_and_its_scripts(live_site):
    with httpx.Client(base_url=live_site.url, timeout=60) as client:
        client.get("/admin/login/")
        client.post("/admin/login/", data={"username": "dash-operator", "password": PASSWORD,
                                           "csrfmiddlewaretoken": client.cookies["csrftoken"]})  # fmt: skip
        assert 'id="dashboard"' in client.get("/admin/").text
        figures = client.get("/admin-dashboard/data", params={"range": "7d"}).json()
        assert figures["runs"]["active"] == 3 and figures["alerts"]["open"] == 1
        assert len(figures["host"]["points"]) >= 100
        for script in ("monitoring/charts.js", "monitoring/dashboard.js", "controlplane/theme.css"):
            assert client.get(f"/static/{script}").status_code == 200, script


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


def _signed_in(browser, site: LiveSite, role: str, width: int):
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{site.url}/admin/login/?next=/admin/")
    page.fill("#id_username", f"dash-{role}")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{site.url}/admin/")
    return page


@needs_chromium
@pytest.mark.parametrize("width", [1280, 390])
def test_an_operator_sees_the_dashboard_refresh_in_place(browser, live_site, width):
    page = _signed_in(browser, live_site, "operator", width)
    external: list[str] = []
    page.on(
        "request", lambda request: external.append(request.url) if not request.url.startswith(live_site.url) else None
    )
    try:
        updated = page.locator("#dash-updated")
        page.wait_for_function("document.getElementById('dash-updated').textContent.startsWith('Updated')")
        first = updated.inner_text()
        assert page.locator("#dash-active").inner_text() == "3"
        assert page.locator("#dash-alerts").inner_text() == "1"
        assert page.locator("#dash-runs-chart svg rect").count() > 10
        assert page.locator("#dash-host-chart svg path").count() == 3
        page.get_by_role("button", name="7 d").click()
        page.wait_for_function("document.querySelector('#dash-host-chart svg text') !== null")
        page.wait_for_function(  # the next poll, without a reload
            "(first) => document.getElementById('dash-updated').textContent !== first", arg=first, timeout=TIMEOUT_MS
        )
        assert updated.inner_text().startswith("Updated")
        assert external == []  # no CDN, nothing outside our server
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"dashboard-{width}.png", full_page=True)
    finally:
        page.context.close()


@needs_chromium
def test_a_viewer_sees_no_audit_activity_on_the_dashboard(browser, live_site):
    page = _signed_in(browser, live_site, "viewer", 1280)
    try:
        page.wait_for_function("document.getElementById('dash-updated').textContent.startsWith('Updated')")
        assert page.locator("#dash-activity-card").is_hidden()
    finally:
        page.context.close()


@needs_chromium
def test_the_samples_list_draws_its_chart_for_each_range(browser, live_site):
    page = _signed_in(browser, live_site, "viewer", 1280)
    try:
        page.goto(f"{live_site.url}/admin/monitoring/systemsample/")
        page.locator("#samples-chart svg path").first.wait_for()
        page.get_by_role("button", name="24 h").click()
        page.wait_for_function("document.querySelectorAll('#samples-chart svg path').length === 3")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "samples-1280.png")  # the chart and the top of the list
    finally:
        page.context.close()


@needs_chromium
def test_a_refused_viewer_sees_which_role_grants_the_action(browser, live_site):
    page = _signed_in(browser, live_site, "viewer", 390)
    try:
        response = page.goto(f"{live_site.url}/admin/controlplane/auditevent/verify/")
        assert response.status == 403
        page.get_by_text("You are not allowed to do this").wait_for()
        assert "controlplane.verify_auditevent" in page.content()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "refused-390.png", full_page=True)
    finally:
        page.context.close()
