"""The operator's admin in a real browser (Debian's chromium, headless, Playwright) against the live server
(uvicorn, `tests.gateway.conftest`) in front of the real Prefect test server with the served flows:

- an operator triggers `etl-hourly` through the form (pre-filled from the deployment's own defaults), sees the run
  at the top of the deployment's run list and its logs tail on its page, and cancels a run from its page;
- a viewer sees no action button anywhere, and a cancel POST forged with a valid session is refused (403, audited);
- an auditor reads and exports the audit log and has no action either.

Screenshots of the run list, a run page and the trigger form at 1280 and 390 px go to var/screenshots/ (git-ignored).
"""

from __future__ import annotations

import uuid

import pytest

from tests.gateway.conftest import PASSWORD, gateway, gateway_env, manage  # noqa: F401 -- fixtures used here
from tests.gateway.helpers import gateway_deployment, run_state, scheduled_run
from tests.live_site import needs_chromium, save_screenshot
from tests.prefect_helpers import TEST_CONFIG

pytestmark = [pytest.mark.prefect, needs_chromium]
TIMEOUT_MS = 90_000
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
PREPARE = f"""
from workflows.models import OrchestrationConfig
OrchestrationConfig.objects.update_or_create(pk=1, defaults={TEST_CONFIG!r})
"""


@pytest.fixture(scope="module")
def site(gateway, served_flows):  # noqa: F811 -- the fixture imported above
    """The live server with the served deployments and a scheduled run mirrored, under the tests' generous cap."""
    scheduled_run(gateway_deployment()["id"], hours_ahead=-1)
    manage(gateway.env, "shell", "-c", PREPARE)
    manage(gateway.env, "sync_prefect")
    return gateway


def logged_in(browser, site, role: str, path: str):
    page = browser.new_context(viewport=WIDTHS["desktop"]).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{site.url}/admin/login/?next={path}")
    page.fill("#id_username", f"gw-{role}")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{site.url}{path}*")
    return page


def screenshot(page, name: str) -> None:
    """The page at desktop and phone width (full page), then back to desktop."""
    for size in WIDTHS.values():
        page.set_viewport_size(size)
        save_screenshot(page, f"{name}-{size['width']}")
    page.set_viewport_size(WIDTHS["desktop"])


def open_trigger_form(page, site) -> None:
    page.goto(f"{site.url}/admin/workflows/deployment/?q=etl-hourly")
    page.get_by_role("link", name="etl_pipeline/etl-hourly").first.click()
    page.get_by_role("link", name="Trigger", exact=True).click()
    page.wait_for_url("**/trigger/")


def trigger_from_form(page, site, sleep_seconds: str) -> str:
    """Submit the trigger form with its pre-filled values (only the pause changed); returns the new run's name."""
    open_trigger_form(page, site)
    page.fill("#id_param_sleep_seconds", sleep_seconds)
    page.get_by_role("button", name="Trigger run").click()
    page.wait_for_url("**/admin/workflows/flowrun/*/change/")
    return page.locator("#run-summary").get_attribute("data-run-name")


def test_an_operator_triggers_with_the_deployments_defaults_watches_the_run_and_its_logs(browser, site):
    page = logged_in(browser, site, "operator", "/admin/workflows/deployment/")
    try:
        open_trigger_form(page, site)
        assert page.input_value("#id_param_rows") == "1000"  # etl-hourly's own default; the function's is 100
        assert page.input_value("#id_param_batch_size") == "100"
        screenshot(page, "trigger-form")

        name = trigger_from_form(page, site, sleep_seconds="2")
        assert '"rows": 1000' in page.inner_text("#run-parameters")
        page.locator("#run-log-lines", has_text="loaded 1000.0 rows").wait_for()  # tailed while it runs
        assert page.locator("#run-log-lines .log-level--info").count() >= 2  # level names, not 20
        screenshot(page, "run-page")

        page.get_by_role("link", name="etl_pipeline/etl-hourly").first.click()
        page.get_by_role("link", name="runs", exact=True).first.click()
        first_row = page.locator("#result_list tbody tr").first
        assert name in first_row.inner_text()
        page.goto(f"{site.url}/admin/workflows/flowrun/")
        screenshot(page, "run-list")
    finally:
        page.context.close()


def test_an_operator_cancels_a_run_from_its_page(browser, site):
    page = logged_in(browser, site, "operator", "/admin/workflows/deployment/")
    try:
        name = trigger_from_form(page, site, sleep_seconds="120")
        run_id = page.locator("#run-summary").get_attribute("data-prefect-id")
        page.locator("#cancel-run").click()
        page.get_by_text(f"Cancellation requested: {name}").wait_for()
        assert run_state(run_id) in {"CANCELLING", "CANCELLED"}
        assert page.locator("#cancel-run").count() == 0 or run_state(run_id) == "CANCELLING"
    finally:
        page.context.close()
    [event] = [e for e in site.audit_events("flow_run.cancel") if e["target_id"] == run_id]
    assert (event["actor"], event["outcome"]) == ("gw-operator", "success")


def test_a_viewer_sees_no_action_anywhere_and_a_forged_cancel_is_refused_and_audited(browser, site):
    [(run_pk, stored_id)] = site.query(
        "SELECT id, prefect_id FROM workflows_flowrun WHERE state_type = 'SCHEDULED' ORDER BY id LIMIT 1"
    )
    run_id = str(uuid.UUID(stored_id))  # SQLite stores a UUID as 32 hex digits
    page = logged_in(browser, site, "viewer", "/admin/workflows/flowrun/")
    try:
        assert page.locator("select[name=action]").count() == 0
        page.goto(f"{site.url}/admin/workflows/flowrun/{run_pk}/change/")
        page.locator("#run-summary").wait_for()
        assert page.locator("#cancel-run, #retry-run").count() == 0
        page.goto(f"{site.url}/admin/workflows/deployment/?q=etl-hourly")
        page.get_by_role("link", name="etl_pipeline/etl-hourly").first.click()
        assert page.get_by_role("link", name="Trigger", exact=True).count() == 0
        assert page.locator("select[name=action]").count() == 0

        status = page.evaluate(
            """async (url) => {
                const field = document.querySelector("[name=csrfmiddlewaretoken]");
                const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
                const token = field ? field.value : cookie.split("=")[1];
                const answer = await fetch(url, {method: "POST", headers: {"X-CSRFToken": token}});
                return answer.status;
            }""",
            f"{site.url}/admin/workflows/flowrun/{run_pk}/cancel/",
        )
    finally:
        page.context.close()
    assert status == 403
    assert run_state(run_id) == "SCHEDULED"
    denied = [e for e in site.audit_events("flow_run.cancel") if e["target_id"] == run_id]
    assert [(e["actor"], e["outcome"]) for e in denied] == [("gw-viewer", "denied")]


def test_an_auditor_reads_and_exports_the_audit_log_and_has_no_actions(browser, site):
    page = logged_in(browser, site, "auditor", "/admin/controlplane/auditevent/")
    try:
        assert page.locator("#result_list tbody tr").count() > 0
        with page.expect_download() as download:
            page.evaluate("(url) => { window.location.href = url; }", "/admin/controlplane/auditevent/export/csv/")
        assert download.value.suggested_filename.endswith(".csv")
        page.goto(f"{site.url}/admin/workflows/flowrun/")
        assert page.locator("select[name=action]").count() == 0
        [(deployment_pk,)] = site.query("SELECT id FROM workflows_deployment WHERE name = 'etl-hourly'")
        response = page.goto(f"{site.url}/admin/workflows/deployment/{deployment_pk}/trigger/")
        assert response.status == 403
    finally:
        page.context.close()
