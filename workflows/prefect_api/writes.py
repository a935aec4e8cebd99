"""Writes to Prefect: create runs, propose states, set concurrency limits and pauses."""

from __future__ import annotations

from uuid import UUID, uuid5

from workflows.prefect_api.client import (
    JSON,
    _client,
    _patch,
    _post,
)

# --- Writes -------------------------------------------------------------------------------------------------------


def create_flow_run_from_deployment(
    deployment_id: UUID | str,
    parameters: JSON,
    idempotency_key: str | None = None,
    tags: list[str] | None = None,
) -> JSON:
    """Create a run of a deployment. With the same idempotency key Prefect returns the existing run."""
    return create_or_find_flow_run(deployment_id, parameters, idempotency_key, tags)[0]


def create_or_find_flow_run(
    deployment_id: UUID | str,
    parameters: JSON,
    idempotency_key: str | None = None,
    tags: list[str] | None = None,
    retry_policy: tuple[int, int] | None = None,
) -> tuple[JSON, bool]:
    """`create_flow_run_from_deployment`, and whether this call created the run (201) rather than found the one its
    idempotency key names (200). `retry_policy`: (retries, seconds between them) the run carries — Prefect's engine
    takes it instead of the flow decorator's, and its orchestration re-schedules a FAILED run that has retries left.

    Prefect creates runs of a paused deployment too: refusing those is the caller's job.
    """
    body: JSON = {"parameters": parameters, "state": {"type": "SCHEDULED", "name": "Scheduled"}}
    if idempotency_key:
        body["idempotency_key"] = idempotency_key
    if retry_policy is not None:
        body["empirical_policy"] = {"retries": retry_policy[0], "retry_delay": retry_policy[1]}
    if tags is not None:
        body["tags"] = tags
    with _client() as client:
        response = client.request("POST", f"/deployments/{deployment_id}/create_flow_run", json=body)
    return response.json(), response.status_code == 201


def set_flow_run_state(
    flow_run_id: UUID | str, state_type: str, name: str | None = None, message: str = "", force: bool = False
) -> JSON:
    """Propose a state; returns Prefect's orchestration result: `{"status": "ACCEPT"|"REJECT"|…, "state": …}`."""
    return _post(f"/flow_runs/{flow_run_id}/set_state", _state_body(state_type, name, message, force))


def set_flow_run_states(
    flow_run_ids: list[UUID | str], state_type: str, name: str | None = None, message: str = "", force: bool = False
) -> dict[str, JSON]:
    """Propose one state to many runs through Prefect's `bulk_set_state` (≤ 50 runs a call, its limit), which
    orchestrates each run as `set_state` does without a request per run. Returns each run's orchestration result by
    run id (`flow_run_id`, `status`, `state`, `details`); a run Prefect does not have is absent."""
    results: dict[str, JSON] = {}
    for start in range(0, len(flow_run_ids), BULK_STATE_LIMIT):
        chunk = [str(run_id) for run_id in flow_run_ids[start : start + BULK_STATE_LIMIT]]
        body: JSON = {"flow_runs": {"id": {"any_": chunk}}, "limit": len(chunk)}
        body.update(_state_body(state_type, name, message, force))
        for result in _post("/flow_runs/bulk_set_state", body)["results"]:
            results[str(result["flow_run_id"])] = result
    return results


BULK_STATE_LIMIT = 50  # Prefect answers 422 to a larger `limit`.


def _state_body(state_type: str, name: str | None, message: str, force: bool) -> JSON:
    state: JSON = {"type": state_type, "message": message}
    if name:
        state["name"] = name
    # The same transition id twice in a row is refused by Prefect (`PreventDuplicateTransitions`: REJECT with the
    # current state), so a repeated cancel leaves the run's one Cancelling state alone instead of adding another.
    # Prefect compares it with the run's current state only, so one id per target state serves every run, and a
    # bulk request (one state for all its runs) carries the same id as a single one.
    state["state_details"] = {"transition_id": str(uuid5(_TRANSITION_NAMESPACE, state_type))}
    return {"state": state, "force": force}


_TRANSITION_NAMESPACE = UUID("6f1d3c52-6a0e-4c1e-9a8e-2b1d6c0f4a11")


def cancel_flow_run(flow_run_id: UUID | str, message: str = "") -> JSON:
    """Ask for cancellation. CANCELLING (never a forced CANCELLED) lets the worker stop the process cleanly."""
    return set_flow_run_state(flow_run_id, "CANCELLING", "Cancelling", message)


def cancel_flow_runs(flow_run_ids: list[UUID | str], message: str = "") -> dict[str, JSON]:
    """`cancel_flow_run` for many runs in as few requests as Prefect allows; results by run id (see
    `set_flow_run_states`)."""
    return set_flow_run_states(flow_run_ids, "CANCELLING", "Cancelling", message)


def retry_flow_run(flow_run_id: UUID | str, message: str = "") -> JSON:
    """Reschedule a finished run now, as Prefect's UI does for "Retry"."""
    return set_flow_run_state(flow_run_id, "SCHEDULED", AWAITING_RETRY, message, force=True)


AWAITING_RETRY = "AwaitingRetry"


def set_deployment_concurrency_limit(deployment_id: UUID | str, limit: int | None) -> None:
    _patch(f"/deployments/{deployment_id}", {"concurrency_limit": limit})


def set_work_pool_concurrency_limit(work_pool_name: str, limit: int | None) -> None:
    _patch(f"/work_pools/{work_pool_name}", {"concurrency_limit": limit})


def set_deployment_paused(deployment_id: UUID | str, paused: bool) -> None:
    """Pause (no new scheduled runs, manual triggers refused by the control plane) or resume a deployment."""
    _patch(f"/deployments/{deployment_id}", {"paused": paused})


def set_interval_schedules(deployment_name: str, seconds: int) -> int:
    """Every deployment named `deployment_name`: its interval schedules now fire every `seconds` (Prefect then
    regenerates the auto-scheduled runs). Returns how many schedules changed."""
    changed = 0
    for deployment in _post("/deployments/filter", {"deployments": {"name": {"any_": [deployment_name]}}}):
        for schedule in deployment.get("schedules") or []:
            rule = schedule.get("schedule") or {}
            if "interval" not in rule or rule["interval"] == seconds:
                continue
            new_rule = {**rule, "interval": seconds}
            _patch(f"/deployments/{deployment['id']}/schedules/{schedule['id']}", {"schedule": new_rule})
            changed += 1
    return changed
