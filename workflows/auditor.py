"""The Auditor: carries one run operation (trigger, cancel, retry) through its steps — permission, Prefect call,
mirror write — and writes its single audit event, whatever the outcome (docs/architecture.md, "Durable
transactions")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from django.db import transaction

from controlplane.audit.actor import Actor
from controlplane.audit.chain import append_audit_events, new_audit_event
from controlplane.audit.models import AuditEvent, AuditOutcome
from controlplane.exceptions import (
    InvalidInput,
    OperationNotAllowed,
    PermissionDeniedError,
    ServiceError,
    UpstreamUnavailable,
)
from workflows import prefect_api
from workflows.mirror import apply_run_states, upsert_flow_runs
from workflows.models import Deployment, FlowRun
from workflows.references import ReferencePks


class Auditor:
    """Carries one operation through its steps and writes its single audit event, whatever the outcome.

    The mirror write and the audit record are queued as they are decided and written together by `commit()`, in one
    transaction. A `deferred` auditor (one item of a bulk operation) never touches the database by itself — its
    Prefect steps may run on a worker thread — and the bulk operation writes a whole batch of them in one
    transaction (`write_queued`).
    """

    def __init__(self, actor: Actor, action: str, target_type: str, target_id: Any, deferred: bool = False) -> None:
        self.actor = actor
        self.action = action
        self.target_type = target_type
        self.target_id = str(target_id)
        self.before: Any = None
        self.deferred = deferred
        self.row: FlowRun | None = None
        self.error: ServiceError | None = None
        self._writes: list[Callable[[], None]] = []
        self._event: dict[str, Any] | None = None

    def attempt(self, step: Callable[..., Any], *args: Any) -> bool:
        """Run one step of a deferred (bulk) item; False when it refused or failed (already queued for audit)."""
        if self.error is not None:
            return False
        try:
            step(*args)
        except ServiceError as error:
            self.error = error
            return False
        return True

    def require(self, permission: str, message: str) -> None:
        if not self.actor.has_perm(permission):
            self.fail(PermissionDeniedError(message))

    def fail(self, error: ServiceError, outcome: str = AuditOutcome.DENIED) -> NoReturn:
        """Audit the refusal or failure (after any mirror refresh queued before it) and raise it."""
        after = {"field_errors": error.field_errors} if isinstance(error, InvalidInput) else None
        self.record(after, outcome=outcome, message=error.message)
        if not self.deferred:
            self.commit()
        raise error

    def record(self, after: Any, **outcome: Any) -> None:
        """Queue the operation's audit event (built when written: building it may read the database)."""
        self._event = {"before": self.before, "after": after, **outcome}

    def call_prefect(
        self,
        function: Callable[..., Any],
        *args: Any,
        rejected: Callable[[prefect_api.PrefectRejected], ServiceError] | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return function(*args, **kwargs)
        except ServiceError as error:  # a check made along the way (e.g. a paused deployment)
            self.fail(error)
        except prefect_api.PrefectUnavailable as exc:
            self.fail(UpstreamUnavailable(f"Prefect is unavailable: {exc}"), outcome=AuditOutcome.ERROR)
        except prefect_api.PrefectNotFound as exc:
            self.fail(OperationNotAllowed(str(exc)), outcome=AuditOutcome.ERROR)
        except prefect_api.PrefectRejected as exc:
            error = rejected(exc) if rejected else OperationNotAllowed(f"Prefect refused: {exc}")
            self.fail(error, outcome=AuditOutcome.ERROR)

    def refresh_mirror(self, payload: dict[str, Any]) -> None:
        """Bring a stale mirror row up to date with what Prefect just said (before refusing)."""
        self._writes.append(lambda: upsert_flow_runs([payload]))

    def mirror_and_record(
        self, payload: dict[str, Any], after: Any, new: bool = False, deployment: Deployment | None = None
    ) -> None:
        """The success of an operation that Prefect answered with the whole run (a trigger; `new`: just created;
        `deployment`: the run's, whose references need not be looked up again)."""

        def write() -> None:
            known = ReferencePks.of_deployment(deployment) if deployment is not None else None
            (self.row,) = upsert_flow_runs([payload], new=new, known=known)

        self._writes.append(write)
        self.record(after)

    def record_state(self, run: FlowRun, state: dict[str, Any]) -> None:
        """The success of a state change: the state Prefect's orchestration answered with goes into the mirror."""

        def write() -> None:
            (self.row,) = apply_run_states([(run, state)])

        self._writes.append(write)
        self.record({"state_type": state.get("type"), "state_name": state.get("name")})

    def record_unchanged(self, run: FlowRun, message: str) -> None:
        """A success that needed no change in Prefect (it had already been done)."""

        def write() -> None:
            self.row = FlowRun.objects.get(pk=run.pk)

        self._writes.append(write)
        self.record(self.before, message=message)

    def commit(self) -> FlowRun:
        """Write what was queued in one durable transaction (docs/architecture.md, "Durable transactions"); returns
        the mirrored run of a success."""
        with transaction.atomic(durable=True):
            append_audit_events(self.write_queued())
        return self.row  # type: ignore[return-value] -- set by every success's write

    def write_queued(self) -> list[AuditEvent]:
        """The queued mirror writes; returns the audit event for the caller to append to the chain (a bulk operation
        appends a whole batch's events at once)."""
        writes, self._writes = self._writes, []
        for write in writes:
            write()
        event, self._event = self._event, None
        if event is None:
            return []
        target = {"target_type": self.target_type, "target_id": self.target_id}
        return [new_audit_event(self.actor, self.action, **target, **event)]
