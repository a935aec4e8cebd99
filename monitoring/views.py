"""Probes and the Prometheus endpoint.

- `/healthz`: liveness — the process answers; touches no database or service.
- `/readyz`: readiness — the database, the Celery broker and Prefect answer; 503 with JSON reasons otherwise.
- `/metrics`: the Prometheus exposition (`monitoring.metrics`) for a request bearing `METRICS_TOKEN` or coming from
  one of `METRICS_ALLOWED_IPS`; 403 otherwise.
- `/admin-dashboard/data`: the dashboard's figures (`monitoring.dashboard`) as JSON, polled by the admin index;
  anyone who may use the admin and read health; the audit activity only to those who may read the audit log.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from controlplane.audit.actor import client_ip
from monitoring import components, dashboard, metrics
from monitoring.models import ComponentStatus

READINESS_CHECKS = ("database", "broker", "prefect_api")


@require_GET
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    checks = {name: components.run_check(name) for name in READINESS_CHECKS}
    down = {name: check.message or check.status for name, check in checks.items() if check.status != ComponentStatus.OK}
    body = {
        "status": "ok" if not down else "unavailable",
        "checks": {name: {"status": check.status, "latency_ms": check.latency_ms} for name, check in checks.items()},
        "reasons": down,
    }
    return JsonResponse(body, status=503 if down else 200)


def _metrics_allowed(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").strip(), settings.METRICS_TOKEN)
    address = client_ip(request)
    if not address:
        return False
    try:
        peer = ipaddress.ip_address(address)
        return any(peer in ipaddress.ip_network(allowed, strict=False) for allowed in settings.METRICS_ALLOWED_IPS)
    except ValueError:
        return False


@require_GET
@never_cache
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    if not _metrics_allowed(request):
        return HttpResponse("Forbidden: send the metrics bearer token or scrape from an allowed address.\n", status=403)
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)


@require_GET
@never_cache
@admin.site.admin_view
def dashboard_data(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("monitoring.view_componenthealth"):
        raise PermissionDenied("Reading the dashboard needs monitoring.view_componenthealth (every role has it).")
    figures = dashboard.dashboard(
        host_range=request.GET.get("range", dashboard.DEFAULT_RANGE),
        with_activity=request.user.has_perm("controlplane.view_auditevent"),
    )
    return JsonResponse(figures)
