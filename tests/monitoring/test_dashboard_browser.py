"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright) against the app served by
uvicorn as `make run` serves it: an operator opens it, sees the figures and the charts, and sees it refresh in place
("Updated …" changes without a reload). Screenshots at 1280 and 390 px go to var/screenshots/ (git-ignored).

The live server needs no Prefect: the dashboard reads the mirror and monitoring's tables (tests/live_site.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.live_site import PASSWORD, TIMEOUT_MS, needs_chromium, save_screenshot
from tests.live_site import signed_in as _signed_in


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
        save_screenshot(page, f"dashboard-{width}")
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
        save_screenshot(page, "samples-1280", full_page=False)  # the chart and the top of the list
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
        save_screenshot(page, "refused-390")
    finally:
        page.context.close()
