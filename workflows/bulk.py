"""Bulk operations on runs: trigger, cancel and retry many at once, one result and one audit event per item.

Items go in batches of `BATCH_SIZE`. Per batch, the permission checks and validation run first (database reads), then
Prefect is asked for each item on a few threads sharing the process's Prefect client (`BULK_CONCURRENCY` in flight;
a trigger's live deployment check once per deployment of the batch), and then the batch's mirror writes and audit
events are written in one transaction. One item's refusal or failure never stops the others.
`on_batch` (the background job's progress) is called after each batch with the results so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction

from controlplane.audit.actor import Actor
from controlplane.audit.chain import append_audit_events
from controlplane.exceptions import ServiceError
from workflows import prefect_api
from workflows.auditor import Auditor
from workflows.models import Deployment, FlowRun
from workflows.services import (
    CANCEL_DONE_STATES,
    ItemResult,
    cancel_message,
    check_deployment_live,
    check_trigger,
    create_run,
    require_cancel,
    require_retry,
    retry_in_prefect,
    retry_message,
    settle_cancel,
    settled_as,
    start_cancel,
    start_retry,
    start_trigger,
    triggered_run_retry_policy,
)

BATCH_SIZE = 50
Item = TypeVar("Item")
ProgressCallback = Callable[[list[ItemResult]], None]
TriggerItem = tuple[Deployment, dict[str, Any], str | None]  # deployment, parameters, idempotency key


def bulk_trigger(
    actor: Actor,
    items: list[TriggerItem] | list[tuple[Deployment, dict[str, Any]]],
    on_batch: ProgressCallback | None = None,
) -> list[ItemResult]:
    """Trigger each (deployment, parameters[, idempotency key]) item; each result's `target` is the deployment."""
    full = [(item[0], item[1], item[2] if len(item) > 2 else None) for item in items]  # type: ignore[misc]
    return _in_batches(full, lambda batch: _trigger_batch(actor, batch), on_batch)


def bulk_cancel(actor: Actor, runs: Iterable[FlowRun], on_batch: ProgressCallback | None = None) -> list[ItemResult]:
    """Cancel each run; each result's `target` is the run."""
    return _in_batches(list(runs), lambda batch: _cancel_batch(actor, batch), on_batch)


def bulk_retry(actor: Actor, runs: Iterable[FlowRun], on_batch: ProgressCallback | None = None) -> list[ItemResult]:
    """Retry each run; each result's `target` is the run."""
    return _in_batches(list(runs), lambda batch: _retry_batch(actor, batch), on_batch)


def _in_batches(
    items: list[Any], run_batch: Callable[[list[Any]], list[ItemResult]], on_batch: ProgressCallback | None
) -> list[ItemResult]:
    results: list[ItemResult] = []
    with prefect_api.session():
        for start in range(0, len(items), BATCH_SIZE):
            results.extend(run_batch(items[start : start + BATCH_SIZE]))
            if on_batch is not None:
                on_batch(results)
    return results


def _started(
    items: list[Item], start: Callable[[Item], Auditor], check: Callable[[Auditor, Item], None]
) -> list[Auditor]:
    """One deferred auditor per item, each through its permission check (and validation): database reads only."""
    audits = [start(item) for item in items]
    for audit, item in zip(audits, items, strict=True):
        audit.attempt(check, audit, item)
    return audits


def _write_batch(targets: list[Any], audits: list[Auditor]) -> list[ItemResult]:
    """The batch's mirror writes and audit events, in one transaction; then one result per item."""
    with transaction.atomic():
        append_audit_events([event for audit in audits for event in audit.write_queued()])
    return [
        ItemResult(target=target, ok=False, error=audit.error.message)
        if audit.error is not None
        else ItemResult(target=target, ok=True, flow_run=audit.row)
        for target, audit in zip(targets, audits, strict=True)
    ]


def _concurrently(step: Callable[[Auditor, Any], None], work: list[tuple[Auditor, Any]]) -> None:
    """`audit.attempt(step, audit, item)` for each pending item, on a few threads sharing the Prefect client."""
    pending = [(audit, item) for audit, item in work if audit.error is None]
    prefect_api.map_concurrently(lambda pair: pair[0].attempt(step, *pair), pending, settings.BULK_CONCURRENCY)


# --- Trigger ------------------------------------------------------------------------------------------------------


def _trigger_batch(actor: Actor, batch: list[TriggerItem]) -> list[ItemResult]:
    audits = _started(
        batch,
        lambda item: start_trigger(actor, item[0], item[1], deferred=True),
        lambda audit, item: check_trigger(audit, item[0], item[1]),
    )
    # The live check (paused? the cap?) once per deployment of the batch, audited on each of its items.
    refusals: dict[int, ServiceError | None] = {}
    for audit, (deployment, _, _) in zip(audits, batch, strict=True):
        if audit.error is None:
            if deployment.pk not in refusals:
                refusals[deployment.pk] = _live_check_refusal(audit, deployment)
            if refusals[deployment.pk] is not None:
                audit.attempt(audit.fail, refusals[deployment.pk])

    retry_policy = triggered_run_retry_policy()  # read here: `create` runs on threads without database access

    def create(audit: Auditor, item: TriggerItem) -> None:
        create_run(audit, *item, retry_policy)

    _concurrently(create, list(zip(audits, batch, strict=True)))
    return _write_batch([deployment for deployment, _, _ in batch], audits)


def _live_check_refusal(audit: Auditor, deployment: Deployment) -> ServiceError | None:
    probe = Auditor(audit.actor, audit.action, audit.target_type, audit.target_id, deferred=True)
    probe.attempt(probe.call_prefect, check_deployment_live, deployment)
    return probe.error


# --- Cancel -------------------------------------------------------------------------------------------------------


def _cancel_batch(actor: Actor, runs: list[FlowRun]) -> list[ItemResult]:
    """One Prefect `bulk_set_state` request for the whole batch: Prefect orchestrates each run as its `set_state`
    does, without a request per run (measured about twice as fast as 8 threads of `set_state` on a PostgreSQL-backed
    Prefect; bench/RESULTS.md, "Operations"). Runs Prefect refused are then read in one request, to say why."""
    audits = _started(runs, lambda run: start_cancel(actor, run, deferred=True), require_cancel)
    pending = [(audit, run) for audit, run in zip(audits, runs, strict=True) if audit.error is None]
    message = cancel_message(actor)
    answers = _answers_by_id(lambda ids: _cancel_in_one_request(ids, message), pending)
    answered = [(audit, run, result) for audit, run in pending if (result := _item_answer(audit, run, answers))]
    refused = [(audit, run) for audit, run, result in answered if not settled_as(result, CANCEL_DONE_STATES)]
    current = _answers_by_id(_read_runs_by_id, refused) if refused else {}
    for audit, run, result in answered:
        audit.attempt(settle_cancel, audit, run, result, partial(_answer_for, run, current))
    return _write_batch(runs, audits)


Answers = dict[str, Any] | prefect_api.PrefectError


def _answers_by_id(ask: Callable[[list[str]], dict[str, Any]], pending: list[tuple[Auditor, FlowRun]]) -> Answers:
    """Prefect's answers for the pending runs by run id, or the error that kept it from answering any of them."""
    try:
        return ask([str(run.prefect_id) for _, run in pending])
    except prefect_api.PrefectError as exc:
        return exc


def _cancel_in_one_request(ids: list[str], message: str) -> dict[str, Any]:
    try:
        return prefect_api.cancel_flow_runs(ids, message)
    except prefect_api.PrefectUnavailable as exc:
        # A request cut off midway may have been applied to some of its runs: say so (repeating it is safe, a
        # repeated transition is refused by Prefect and answered with the state already there).
        maybe_applied = f"{exc} (Prefect may have applied it to some of these runs already)"
        raise prefect_api.PrefectUnavailable(maybe_applied) from exc


def _answer_for(run: FlowRun, answers: Answers) -> Any:
    """One run's part of a bulk answer, raising what the single call would have raised for it."""
    if isinstance(answers, prefect_api.PrefectError):
        raise answers
    if str(run.prefect_id) not in answers:
        raise prefect_api.PrefectNotFound("Not found in Prefect: Flow run not found", 404)
    return answers[str(run.prefect_id)]


def _item_answer(audit: Auditor, run: FlowRun, answers: Answers) -> Any:
    """The run's answer, or None when there is none (then its auditor holds the failure)."""
    answer: list[Any] = []
    audit.attempt(lambda: answer.append(audit.call_prefect(_answer_for, run, answers)))
    return answer[0] if answer else None


def _read_runs_by_id(ids: list[str]) -> dict[str, Any]:
    return {str(payload["id"]): payload for payload in prefect_api.read_flow_runs_by_id(ids)}


# --- Retry --------------------------------------------------------------------------------------------------------


def _retry_batch(actor: Actor, runs: list[FlowRun]) -> list[ItemResult]:
    """Each retry reads its run first (it is forced past Prefect's orchestration): a few at a time, on threads."""
    audits = _started(runs, lambda run: start_retry(actor, run, deferred=True), require_retry)
    message = retry_message(actor)

    def retry(audit: Auditor, run: FlowRun) -> None:
        retry_in_prefect(audit, run, message)

    _concurrently(retry, list(zip(audits, runs, strict=True)))
    return _write_batch(runs, audits)
