"""GraphQL types of bulk operations: the immediate per-item results (`BulkResult`) of a small one, the background
job (`BulkOperation`) of a large one, and the `bulkOperation(id)` query that follows a job's progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry_django.fields.types import OperationInfo
from strawberry_django.permissions import HasPerm

from workflows.graphql.types import FlowRunNode
from workflows.models import BulkOperation, FlowRun
from workflows.services import CANCEL, RETRY, TRIGGER


@strawberry.type(description="The outcome of one item of a bulk operation.")
class BulkItemResult:
    target: str = strawberry.field(description="The deployment (`flow/deployment`) or run id this item named.")
    ok: bool
    flow_run: FlowRunNode | None = None
    error: str | None = None


@strawberry.type(description="A bulk operation done within the request: one result per item, in input order.")
class BulkResult:
    items: list[BulkItemResult]

    @strawberry.field
    def succeeded(self) -> int:
        return sum(item.ok for item in self.items)

    @strawberry.field
    def failed(self) -> int:
        return sum(not item.ok for item in self.items)


@strawberry.type(
    name="BulkOperation",
    description="A bulk operation too large for one request, run in the background; poll `bulkOperation(id)`.",
)
class BulkOperationNode:
    id: strawberry.ID
    kind: str = strawberry.field(description="trigger, cancel or retry.")
    status: str = strawberry.field(description="queued, running, finished or failed.")
    total: int
    done: int
    succeeded: int
    failed: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = strawberry.field(description="Why the job as a whole failed (items report their own).")
    _results: strawberry.Private[list[Any]]

    @strawberry.field(description="One result per item done so far, in input order (items not reached yet: absent).")
    def items(self) -> list[BulkItemResult]:
        done = [result for result in self._results if result is not None]
        run_ids = [uuid.UUID(result["flow_run"]) for result in done if result.get("flow_run")]
        runs = {run.prefect_id: run for run in FlowRun.objects.filter(prefect_id__in=run_ids)}
        return [
            BulkItemResult(
                target=result["target"],
                ok=result["ok"],
                flow_run=runs.get(uuid.UUID(result["flow_run"])) if result.get("flow_run") else None,  # type: ignore[arg-type]
                error=result.get("error"),
            )
            for result in done
        ]

    @classmethod
    def of(cls, operation: BulkOperation) -> BulkOperationNode:
        return cls(
            id=strawberry.ID(str(operation.pk)),
            kind=operation.kind,
            status=operation.status,
            total=operation.total,
            done=operation.done,
            succeeded=operation.succeeded,
            failed=operation.failed,
            created_at=operation.created_at,
            started_at=operation.started_at,
            finished_at=operation.finished_at,
            error=operation.error or None,
            _results=operation.results or [],
        )


BulkOperationResult = Annotated[BulkResult | BulkOperationNode | OperationInfo, strawberry.union("BulkOperationResult")]


@strawberry.type
class BulkOperationQuery:
    @strawberry.field(
        extensions=[HasPerm([TRIGGER, CANCEL, RETRY], any_perm=True, fail_silently=False)],
        description="A background bulk operation: its progress, and one result per item done so far. Readable by "
        "whoever may trigger, cancel or retry runs.",
    )
    def bulk_operation(self, id: strawberry.ID) -> BulkOperationNode | None:
        try:
            operation = BulkOperation.objects.filter(pk=int(id)).first()
        except ValueError:
            return None
        return BulkOperationNode.of(operation) if operation else None
