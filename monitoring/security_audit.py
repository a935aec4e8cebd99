"""The security audit: Django's deployment checks against the running settings, installed package versions against
requirements/constraints.txt, and the settings mistakes that open the control plane or Prefect (DEBUG, the secret
key, allowed hosts, Prefect's auth string). Critical findings raise alerts (`open_alert`, audited as the system)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils import timezone

from monitoring.models import Alert, Severity
from monitoring.services import open_alert

RULE = "security_audit"
MIN_SECRET_KEY_LENGTH = 50
MIN_PREFECT_PASSWORD_LENGTH = 16
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;#]+)")


@dataclass(frozen=True)
class Finding:
    check: str
    severity: str
    message: str


def deploy_check_findings() -> list[Finding]:
    """`manage.py check --deploy`: errors are critical, warnings stay warnings."""
    found = []
    for message in checks.run_checks(include_deployment_checks=True):
        severity = Severity.CRITICAL if message.level >= checks.ERROR else Severity.WARNING
        if message.level >= checks.WARNING:
            found.append(Finding(f"django:{message.id}", severity, str(message.msg)))
    return found


def package_findings(constraints_file: Path) -> list[Finding]:
    """Each exact pin whose installed version differs (or is not installed)."""
    found = []
    for line in constraints_file.read_text().splitlines():
        match = PIN.match(line)
        if not match:
            continue
        name, pinned = match.group(1).split("[")[0], match.group(2)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            found.append(Finding(f"package:{name}", Severity.WARNING, f"{name}=={pinned} is pinned but not installed"))
            continue
        if installed != pinned:
            message = f"{name} {installed} is installed, constraints pin {pinned}"
            found.append(Finding(f"package:{name}", Severity.WARNING, message))
    return found


def settings_findings() -> list[Finding]:
    found = []
    if settings.DEBUG:
        found.append(Finding("settings:debug", Severity.CRITICAL, "DEBUG is on: tracebacks and settings leak"))
    key = settings.SECRET_KEY or ""
    if len(key) < MIN_SECRET_KEY_LENGTH or key.startswith("django-insecure") or len(set(key)) < 5:
        found.append(Finding("settings:secret_key", Severity.CRITICAL, "SECRET_KEY is short or a known default"))
    if "*" in settings.ALLOWED_HOSTS:
        found.append(Finding("settings:allowed_hosts", Severity.CRITICAL, "ALLOWED_HOSTS accepts any host ('*')"))
    elif not settings.ALLOWED_HOSTS:
        found.append(Finding("settings:allowed_hosts", Severity.WARNING, "ALLOWED_HOSTS is empty"))
    _, _, password = (settings.PREFECT_API_AUTH_STRING or "").partition(":")
    if not settings.PREFECT_API_AUTH_STRING:
        message = "no PREFECT_API_AUTH_STRING: Prefect's API is open to anyone who reaches it"
        found.append(Finding("settings:prefect_auth", Severity.CRITICAL, message))
    elif len(password) < MIN_PREFECT_PASSWORD_LENGTH:
        message = f"Prefect's auth string password is shorter than {MIN_PREFECT_PASSWORD_LENGTH} characters"
        found.append(Finding("settings:prefect_auth", Severity.WARNING, message))
    return found


def audit_security(constraints_file: Path | None = None) -> list[Finding]:
    path = constraints_file or Path(settings.BASE_DIR) / "requirements" / "constraints.txt"
    return settings_findings() + deploy_check_findings() + package_findings(path)


def alert_on_critical(findings: list[Finding]) -> list[Alert]:
    """One alert per critical finding (none while one is already open for it)."""
    now = timezone.now()
    raised = (
        open_alert(RULE, finding.check, Severity.CRITICAL, f"Security audit: {finding.message}", now=now)
        for finding in findings
        if finding.severity == Severity.CRITICAL
    )
    return [alert for alert in raised if alert is not None]


def as_dicts(findings: list[Finding]) -> list[dict[str, Any]]:
    return [asdict(finding) for finding in findings]
