"""security_audit reports the running settings' problems and package drift, and raises alerts on critical ones."""

from __future__ import annotations

import pytest

from flows.security_audit import REPORT_KEY, security_audit
from monitoring.models import Alert
from monitoring.security_audit import RULE
from tests.flows.conftest import artifacts_of

pytestmark = pytest.mark.prefect


def test_insecure_settings_are_critical_findings_with_alerts_and_package_drift_is_reported(
    run_flow, settings, tmp_path
):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = ["*"]
    settings.SECRET_KEY = "django-insecure-short"
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("# a comment\ndjango==0.0.1\nno-such-package-here==1.0\n")

    result, run = run_flow(security_audit, constraints_file=str(constraints))

    assert run["state_type"] == "COMPLETED", run["state"]
    by_check = {f["check"]: f for f in result["findings"]}
    for check in ("settings:debug", "settings:allowed_hosts", "settings:secret_key"):
        assert by_check[check]["severity"] == "critical"
    assert "constraints pin 0.0.1" in by_check["package:django"]["message"]
    assert "not installed" in by_check["package:no-such-package-here"]["message"]
    assert any(check.startswith("django:security.") for check in by_check)  # Django's own deploy checks ran
    alerts = Alert.objects.filter(rule=RULE)
    assert {a.subject for a in alerts} >= {"settings:debug", "settings:allowed_hosts", "settings:secret_key"}
    assert all(a.severity == "critical" for a in alerts)
    assert [a for a in artifacts_of(run["id"]) if a["key"] == REPORT_KEY]


def test_the_checkouts_constraints_match_the_installed_packages(run_flow):
    result, run = run_flow(security_audit)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert not [f for f in result["findings"] if f["check"].startswith("package:")]
