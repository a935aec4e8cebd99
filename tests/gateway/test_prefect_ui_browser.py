"""Prefect's own UI through the gateway, in a real browser (Debian's chromium, headless, driven by Playwright): a
viewer sees the runs and a run's logs but cannot cancel; an operator cancels from Prefect's UI, and the admin and the
audit log show it under the operator's name."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

import pytest

from tests.gateway.conftest import PASSWORD, manage
from tests.gateway.helpers import gateway_deployment, run_state, scheduled_run
from tests.prefect_helpers import prefect_post

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium (apt-get install chromium)"),
]
TIMEOUT_MS = 60_000
LOG_LINE = "a log line read through the gateway"


def _logged_in_page(browser, gateway, role: str, next_path: str):
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{gateway.url}/admin/login/?next={next_path}")
    page.fill("#id_username", f"gw-{role}")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{gateway.url}{next_path}*")
    return page


def _run_with_logs() -> dict:
    run = scheduled_run(gateway_deployment()["id"], hours_ahead=-1)  # due already: inside the list's "past week"
    log = {"name": "gw", "level": 20, "message": LOG_LINE, "flow_run_id": run["id"],
           "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    prefect_post("/logs/", [log])
    return run


def test_a_viewer_sees_runs_and_logs_in_prefects_ui_but_cannot_cancel(browser, gateway):
    run = _run_with_logs()
    page = _logged_in_page(browser, gateway, "viewer", f"/prefect/runs/flow-run/{run['id']}")
    try:
        page.get_by_text(run["name"]).first.wait_for()
        page.get_by_text(LOG_LINE).first.wait_for()
        page.goto(f"{gateway.url}/prefect/runs")
        _search_runs_list(page, run["name"])  # other tests' runs fill the first pages
        status = page.evaluate(
            """async (url) => (await fetch(url, {method: "POST", headers: {"content-type": "application/json"},
                body: JSON.stringify({state: {type: "CANCELLING", name: "Cancelling"}})})).status""",
            f"{gateway.url}/prefect/api/flow_runs/{run['id']}/set_state",
        )
        assert status == 403
        assert run_state(run["id"]) == "SCHEDULED"
    except Exception:
        page.screenshot(path=gateway.home / "viewer.png", full_page=True)  # kept for a failure
        raise
    finally:
        page.context.close()


def test_an_operator_cancels_from_prefects_ui_and_the_audit_log_names_them(browser, gateway):
    run = _run_with_logs()
    page = _logged_in_page(browser, gateway, "operator", f"/prefect/runs/flow-run/{run['id']}")
    try:
        page.get_by_text(run["name"]).first.wait_for()
        page.get_by_role("button", name="Cancel", exact=True).first.click()
        page.get_by_role("button", name="Confirm").click()  # Prefect's "Cancel Flow Run" dialog
        assert _wait_for_cancelled(run["id"]) in {"CANCELLING", "CANCELLED"}
    except Exception:
        page.screenshot(path=gateway.home / "operator.png", full_page=True)
        raise
    finally:
        page.context.close()
    [event] = [e for e in gateway.audit_events("prefect:POST /flow_runs/{id}/set_state") if e["target_id"] == run["id"]]
    assert (event["actor"], event["outcome"], event["after"]["state_type"]) == ("gw-operator", "success", "CANCELLING")
    manage(gateway.env, "sync_prefect")  # what beat's sync (or the listener) does in a running stack
    admin = _logged_in_page(browser, gateway, "admin", "/admin/controlplane/auditevent/")
    try:
        admin.get_by_text("gw-operator").first.wait_for()
        admin.get_by_text("prefect:POST /flow_runs/{id}/set_state").first.wait_for()
        admin.goto(f"{gateway.url}/admin/workflows/flowrun/?q={run['name']}")
        row = admin.locator("#result_list tbody tr", has_text=run["name"])
        row.wait_for()
        assert "Cancel" in row.inner_text()  # Cancelled (or Cancelling while Prefect finishes it)
    finally:
        admin.context.close()


def _search_runs_list(page, name: str) -> None:
    """Type the run's name into the list's search box until the list shows it (the UI may still be loading, and
    reset the box, when it is first typed into)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        page.get_by_role("searchbox", name="Search by flow run name").fill(name)
        try:
            page.get_by_text(name).first.wait_for(timeout=5_000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def _wait_for_cancelled(run_id: str) -> str:
    deadline = time.monotonic() + 60
    while (state := run_state(run_id)) not in {"CANCELLING", "CANCELLED"} and time.monotonic() < deadline:
        time.sleep(0.5)
    return state
