"""The only package that talks to Prefect (client, reads, writes, logs, events).

Everything else calls these functions and receives plain JSON-shaped dicts (exactly what the Prefect REST API
returned), so an unknown field from a newer Prefect is carried along instead of crashing a model validation.
Transient faults are retried a few times by Prefect's own client; anything still failing becomes one clear
`PrefectUnavailable`. A request Prefect refuses (4xx) becomes `PrefectRejected` with Prefect's own message.
"""

from __future__ import annotations

from workflows.prefect_api.client import (
    JSON,
    PAGE_SIZE_LIMIT,
    PrefectError,
    PrefectNotFound,
    PrefectRejected,
    PrefectUnavailable,
    _get,
    _kept_session_client,
    _patch,
    _post,
    api_url,
    session,
)
from workflows.prefect_api.events import (
    DEPLOYMENT_EVENT_PREFIX,
    FLOW_RUN_EVENT_PREFIX,
    FlowRunEventStream,
    deployment_event_as_json,
    flow_run_event_as_json,
)
from workflows.prefect_api.logs import (
    read_flow_run_logs,
)
from workflows.prefect_api.reads import (
    check_health,
    count_flow_runs,
    iter_deployments,
    iter_flow_runs,
    iter_flows,
    iter_pages,
    iter_work_pools,
    map_concurrently,
    read_deployment,
    read_deployments_by_id,
    read_flow_run,
    read_flow_run_states,
    read_flow_runs_by_id,
    read_flows_by_id,
    read_many_flow_run_states,
    read_task_runs_by_id,
    read_work_pools_by_id,
)
from workflows.prefect_api.writes import (
    AWAITING_RETRY,
    cancel_flow_run,
    cancel_flow_runs,
    create_flow_run_from_deployment,
    create_or_find_flow_run,
    retry_flow_run,
    set_deployment_concurrency_limit,
    set_deployment_paused,
    set_flow_run_state,
    set_flow_run_states,
    set_interval_schedules,
    set_work_pool_concurrency_limit,
)

__all__ = [
    "AWAITING_RETRY",
    "DEPLOYMENT_EVENT_PREFIX",
    "FLOW_RUN_EVENT_PREFIX",
    "JSON",
    "PAGE_SIZE_LIMIT",
    "FlowRunEventStream",
    "PrefectError",
    "PrefectNotFound",
    "PrefectRejected",
    "PrefectUnavailable",
    "_get",
    "_kept_session_client",
    "_patch",
    "_post",
    "api_url",
    "cancel_flow_run",
    "cancel_flow_runs",
    "check_health",
    "count_flow_runs",
    "create_flow_run_from_deployment",
    "create_or_find_flow_run",
    "deployment_event_as_json",
    "flow_run_event_as_json",
    "iter_deployments",
    "iter_flow_runs",
    "iter_flows",
    "iter_pages",
    "iter_work_pools",
    "map_concurrently",
    "read_deployment",
    "read_deployments_by_id",
    "read_flow_run",
    "read_flow_run_logs",
    "read_flow_run_states",
    "read_flow_runs_by_id",
    "read_flows_by_id",
    "read_many_flow_run_states",
    "read_task_runs_by_id",
    "read_work_pools_by_id",
    "retry_flow_run",
    "session",
    "set_deployment_concurrency_limit",
    "set_deployment_paused",
    "set_flow_run_state",
    "set_flow_run_states",
    "set_interval_schedules",
    "set_work_pool_concurrency_limit",
]
