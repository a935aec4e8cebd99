"""`security_audit`: the security audit of the running settings and installed packages (monitoring/security_audit.py),
published as a markdown artifact; critical findings raise alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from monitoring.security_audit import alert_on_critical, as_dicts, audit_security

REPORT_KEY = "security-audit-report"


@flow(name="security_audit")
def security_audit(constraints_file: str = "") -> dict[str, Any]:
    """Audit; `constraints_file` empty means requirements/constraints.txt of this checkout."""
    findings = audit_security(Path(constraints_file) if constraints_file else None)
    alerts = alert_on_critical(findings)
    critical = [f for f in findings if f.severity == "critical"]
    get_run_logger().info("%d findings, %d critical, %d alerts raised", len(findings), len(critical), len(alerts))
    create_markdown_artifact(report_markdown(findings), key=REPORT_KEY, description="Security audit")
    return {"findings": as_dicts(findings), "alerts_raised": [alert.pk for alert in alerts]}


def report_markdown(findings: list[Any]) -> str:
    lines = ["# Security audit", ""]
    if not findings:
        return "\n".join([*lines, "No findings."])
    lines += ["| severity | check | finding |", "|---|---|---|"]
    order = sorted(findings, key=lambda f: (f.severity != "critical", f.check))
    lines += [f"| {f.severity} | {f.check} | {f.message.replace('|', '/')} |" for f in order]
    return "\n".join(lines)
