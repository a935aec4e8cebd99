"""The one table of Prefect's API routes and the right each needs through the gateway.

Every route of Prefect 3.8.8's API (its OpenAPI document, plus the websockets its UI and workers use) is listed with
one of three rights: `read` (the viewer's and auditor's `workflows.view_flowrun`), `operate` (the operator's own
permission for that action: trigger, cancel, retry) or `administer` (`gateway.administer_prefect`, the admin's). A
route missing from the table — a newer Prefect's — needs `administer`, and the gateway logs it. The operate rows name
the Django permission they need; `set_state` depends on the state asked for (`BY_TARGET_STATE`, see `rights.py`).
`tests/gateway/test_route_table.py` fails when the installed Prefect serves a route this table does not list.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from enum import StrEnum

import prefect

logger = logging.getLogger(__name__)

ROUTES_WRITTEN_FOR = "3.8.8"


class Right(StrEnum):
    READ = "read"
    OPERATE = "operate"
    ADMINISTER = "administer"


VIEW = "workflows.view_flowrun"
TRIGGER = "workflows.trigger_run"
CANCEL = "workflows.cancel_run"
RETRY = "workflows.retry_run"
ADMINISTER_PREFECT = "gateway.administer_prefect"
BY_TARGET_STATE = "by target state"  # cancel_run for CANCELLING, retry_run for SCHEDULED, otherwise administer
WEBSOCKET = "WEBSOCKET"

R, OP, A = Right.READ, Right.OPERATE, Right.ADMINISTER


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # the path under Prefect's `/api`, with `{name}` parameters
    right: Right
    permission: str
    pattern: re.Pattern[str] = field(compare=False)

    @property
    def resource(self) -> str:
        """What the route acts on, for the audit log: `flow_runs`, `deployments`, …"""
        parts = [part for part in self.template.split("/") if part and not part.startswith("{")]
        return parts[0] if parts[0] not in ("v2", "ui") or len(parts) == 1 else f"{parts[0]}/{parts[1]}"


def _route(spec: str, right: Right, permission: str = "") -> Route:
    method, template = spec.split(" ", 1)
    regex = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
    default = {Right.READ: VIEW, Right.ADMINISTER: ADMINISTER_PREFECT}.get(right, "")
    return Route(method, template, right, permission or default, re.compile(regex.rstrip("/") + "/?"))


# fmt: off
ROUTE_TABLE: tuple[Route, ...] = (
    _route("GET /admin/settings", R),  # the UI reads it on every page; its secrets are SecretStr (obfuscated)
    _route("DELETE /admin/storage", A),
    _route("GET /admin/storage", A),
    _route("PUT /admin/storage", A),
    _route("GET /admin/version", R),
    _route("POST /artifacts/", A),
    _route("POST /artifacts/count", R),
    _route("POST /artifacts/filter", R),
    _route("POST /artifacts/latest/count", R),
    _route("POST /artifacts/latest/filter", R),
    _route("DELETE /artifacts/{id}", A),
    _route("GET /artifacts/{id}", R),
    _route("PATCH /artifacts/{id}", A),
    _route("GET /artifacts/{key}/latest", R),
    _route("POST /automations/", A),
    _route("POST /automations/count", R),
    _route("POST /automations/filter", R),
    _route("DELETE /automations/owned-by/{resource_id}", A),
    _route("GET /automations/related-to/{resource_id}", R),
    _route("POST /automations/templates/validate", R),
    _route("DELETE /automations/{id}", A),
    _route("GET /automations/{id}", R),
    _route("PATCH /automations/{id}", A),
    _route("PUT /automations/{id}", A),
    _route("GET /block_capabilities/", R),
    _route("POST /block_documents/", A),
    _route("POST /block_documents/count", R),
    _route("POST /block_documents/filter", R),
    _route("DELETE /block_documents/{id}", A),
    _route("GET /block_documents/{id}", R),
    _route("PATCH /block_documents/{id}", A),
    _route("POST /block_schemas/", A),
    _route("GET /block_schemas/checksum/{checksum}", R),
    _route("POST /block_schemas/filter", R),
    _route("DELETE /block_schemas/{id}", A),
    _route("GET /block_schemas/{id}", R),
    _route("POST /block_types/", A),
    _route("POST /block_types/filter", R),
    _route("POST /block_types/install_system_block_types", A),
    _route("GET /block_types/slug/{slug}", R),
    _route("GET /block_types/slug/{slug}/block_documents", R),
    _route("GET /block_types/slug/{slug}/block_documents/name/{block_document_name}", R),
    _route("DELETE /block_types/{id}", A),
    _route("GET /block_types/{id}", R),
    _route("PATCH /block_types/{id}", A),
    _route("GET /collections/views/{view}", R),
    _route("POST /concurrency_limits/", A),
    _route("POST /concurrency_limits/decrement", A),
    _route("POST /concurrency_limits/filter", R),
    _route("POST /concurrency_limits/increment", A),
    _route("DELETE /concurrency_limits/tag/{tag}", A),
    _route("GET /concurrency_limits/tag/{tag}", R),
    _route("POST /concurrency_limits/tag/{tag}/reset", A),
    _route("DELETE /concurrency_limits/{id}", A),
    _route("GET /concurrency_limits/{id}", R),
    _route("GET /csrf-token", R),
    _route("POST /deployments/", A),
    _route("POST /deployments/bulk_delete", A),
    _route("POST /deployments/count", R),
    _route("POST /deployments/filter", R),
    _route("POST /deployments/get_scheduled_flow_runs", A),
    _route("GET /deployments/name/{flow_name}/{deployment_name}", R),
    _route("POST /deployments/paginate", R),
    _route("DELETE /deployments/{id}", A),
    _route("GET /deployments/{id}", R),
    _route("PATCH /deployments/{id}", A),
    _route("POST /deployments/{id}/create_flow_run", OP, TRIGGER),
    _route("POST /deployments/{id}/create_flow_run/bulk", A),
    _route("POST /deployments/{id}/pause_deployment", OP, TRIGGER),
    _route("POST /deployments/{id}/resume_deployment", OP, TRIGGER),
    _route("POST /deployments/{id}/schedule", A),
    _route("GET /deployments/{id}/schedules", R),
    _route("POST /deployments/{id}/schedules", A),
    _route("DELETE /deployments/{id}/schedules/{schedule_id}", A),
    _route("PATCH /deployments/{id}/schedules/{schedule_id}", A),
    _route("GET /deployments/{id}/work_queue_check", R),
    _route("POST /events", A),
    _route("POST /events/count-by/{countable}", R),
    _route("POST /events/filter", R),
    _route("GET /events/filter/next", R),
    _route("GET /flow_run_states/", R),
    _route("GET /flow_run_states/{id}", R),
    _route("POST /flow_runs/", A),
    _route("POST /flow_runs/bulk_delete", A),
    _route("POST /flow_runs/bulk_set_state", A),
    _route("POST /flow_runs/count", R),
    _route("POST /flow_runs/filter", R),
    _route("POST /flow_runs/history", R),
    _route("POST /flow_runs/lateness", R),
    _route("POST /flow_runs/paginate", R),
    _route("DELETE /flow_runs/{id}", A),
    _route("GET /flow_runs/{id}", R),
    _route("PATCH /flow_runs/{id}", A),
    _route("GET /flow_runs/{id}/graph", R),
    _route("GET /flow_runs/{id}/graph-v2", R),
    _route("POST /flow_runs/{id}/input", A),
    _route("POST /flow_runs/{id}/input/filter", R),
    _route("DELETE /flow_runs/{id}/input/{key}", A),
    _route("GET /flow_runs/{id}/input/{key}", R),
    _route("PATCH /flow_runs/{id}/labels", A),
    _route("GET /flow_runs/{id}/logs/download", R),
    _route("POST /flow_runs/{id}/resume", A),
    _route("POST /flow_runs/{id}/set_state", OP, BY_TARGET_STATE),
    _route("POST /flows/", A),
    _route("POST /flows/bulk_delete", A),
    _route("POST /flows/count", R),
    _route("POST /flows/filter", R),
    _route("GET /flows/name/{name}", R),
    _route("POST /flows/paginate", R),
    _route("DELETE /flows/{id}", A),
    _route("GET /flows/{id}", R),
    _route("PATCH /flows/{id}", A),
    _route("GET /health", R),
    _route("GET /hello", R),
    _route("POST /logs/", A),
    _route("POST /logs/filter", R),
    _route("GET /ready", R),
    _route("PUT /saved_searches/", A),
    _route("POST /saved_searches/filter", R),
    _route("DELETE /saved_searches/{id}", A),
    _route("GET /saved_searches/{id}", R),
    _route("GET /task_run_states/", R),
    _route("GET /task_run_states/{id}", R),
    _route("POST /task_runs/", A),
    _route("POST /task_runs/count", R),
    _route("POST /task_runs/filter", R),
    _route("POST /task_runs/history", R),
    _route("POST /task_runs/paginate", R),
    _route("DELETE /task_runs/{id}", A),
    _route("GET /task_runs/{id}", R),
    _route("PATCH /task_runs/{id}", A),
    _route("POST /task_runs/{id}/set_state", A),
    _route("POST /task_workers/filter", R),
    _route("POST /templates/validate", R),
    _route("POST /ui/flow_runs/count-task-runs", R),
    _route("POST /ui/flow_runs/history", R),
    _route("POST /ui/flows/count-deployments", R),
    _route("POST /ui/flows/next-runs", R),
    _route("POST /ui/schemas/validate", R),
    _route("POST /ui/task_runs/count", R),
    _route("POST /ui/task_runs/dashboard/counts", R),
    _route("GET /ui/task_runs/{id}", R),
    _route("POST /v2/concurrency_limits/", A),
    _route("POST /v2/concurrency_limits/decrement", A),
    _route("POST /v2/concurrency_limits/decrement-with-lease", A),
    _route("POST /v2/concurrency_limits/filter", R),
    _route("POST /v2/concurrency_limits/increment", A),
    _route("POST /v2/concurrency_limits/increment-with-lease", A),
    _route("POST /v2/concurrency_limits/leases/{lease_id}/renew", A),
    _route("DELETE /v2/concurrency_limits/{id_or_name}", A),
    _route("GET /v2/concurrency_limits/{id_or_name}", R),
    _route("PATCH /v2/concurrency_limits/{id_or_name}", A),
    _route("POST /variables/", A),
    _route("POST /variables/count", R),
    _route("POST /variables/filter", R),
    _route("DELETE /variables/name/{name}", A),
    _route("GET /variables/name/{name}", R),
    _route("PATCH /variables/name/{name}", A),
    _route("DELETE /variables/{id}", A),
    _route("GET /variables/{id}", R),
    _route("PATCH /variables/{id}", A),
    _route("GET /version", R),
    _route("POST /work_pools/", A),
    _route("POST /work_pools/count", R),
    _route("POST /work_pools/filter", R),
    _route("DELETE /work_pools/{name}", A),
    _route("GET /work_pools/{name}", R),
    _route("PATCH /work_pools/{name}", A),
    _route("POST /work_pools/{name}/concurrency_status", R),
    _route("POST /work_pools/{name}/get_scheduled_flow_runs", A),
    _route("POST /work_pools/{work_pool_name}/queues", A),
    _route("POST /work_pools/{work_pool_name}/queues/filter", R),
    _route("DELETE /work_pools/{work_pool_name}/queues/{name}", A),
    _route("GET /work_pools/{work_pool_name}/queues/{name}", R),
    _route("PATCH /work_pools/{work_pool_name}/queues/{name}", A),
    _route("POST /work_pools/{work_pool_name}/workers/filter", R),
    _route("POST /work_pools/{work_pool_name}/workers/heartbeat", A),
    _route("DELETE /work_pools/{work_pool_name}/workers/{name}", A),
    _route("POST /work_queues/", A),
    _route("POST /work_queues/filter", R),
    _route("GET /work_queues/name/{name}", R),
    _route("DELETE /work_queues/{id}", A),
    _route("GET /work_queues/{id}", R),
    _route("PATCH /work_queues/{id}", A),
    _route("POST /work_queues/{id}/concurrency_status", R),
    _route("POST /work_queues/{id}/get_runs", A),
    _route("GET /work_queues/{id}/status", R),
    # Websockets (not in the OpenAPI document): live events and logs are reads; emitting events, task workers and
    # workers are the machines' business (they hold the auth string), so only an admin may use them here.
    _route("WEBSOCKET /events/out", R),
    _route("WEBSOCKET /logs/out", R),
    _route("WEBSOCKET /events/in", A),
    _route("WEBSOCKET /task_runs/subscriptions/scheduled", A),
    _route("WEBSOCKET /work_pools/{work_pool_name}/workers/connect", A),
)
# fmt: on

# Literal routes before parameterised ones (`/deployments/get_scheduled_flow_runs` before `/deployments/{id}`).
_BY_SPECIFICITY = sorted(ROUTE_TABLE, key=lambda route: route.template.count("{"))


@dataclass(frozen=True)
class Match:
    route: Route | None  # None: a route the table does not know
    params: dict[str, str]


def match(method: str, path: str) -> Match:
    """The table's route for `method path` (path under `/api`, without the query)."""
    for route in _BY_SPECIFICITY:
        if route.method == method:
            found = route.pattern.fullmatch(path)
            if found:
                return Match(route, found.groupdict())
    logger.warning(
        "Prefect route %s %s is not in the gateway's route table (written for Prefect %s, installed %s): "
        "it needs the administer right",
        method,
        path,
        ROUTES_WRITTEN_FOR,
        prefect.__version__,
    )
    return Match(None, {})


def check_installed_prefect_version() -> bool:
    """At start: say so when the installed Prefect is not the one the table was written for. The gateway keeps
    working; routes it does not know need the administer right (as always) and are logged when used."""
    return check_prefect_version(prefect.__version__, "installed")


def check_prefect_version(version: str, where: str) -> bool:
    """`where` is "installed" (at start) or "served" (the server's `/api/version`, on the gateway's first UI load)."""
    if version == ROUTES_WRITTEN_FOR:
        return True
    logger.warning(
        "The gateway's route table was written for Prefect %s but %s is %s: routes it does not list need "
        "the administer right; run tests/gateway/test_route_table.py to list them",
        ROUTES_WRITTEN_FOR,
        version,
        where,
    )
    return False
