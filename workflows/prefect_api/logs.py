"""A run's logs, read live from Prefect."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from workflows.prefect_api.client import (
    JSON,
    PAGE_SIZE_LIMIT,
    _post,
)

# --- Logs ---------------------------------------------------------------------------------------------------------


def read_flow_run_logs(flow_run_id: UUID | str, after: str | None = None, limit: int = 200) -> list[JSON]:
    """Logs of a flow run (its tasks included), oldest first, strictly after the ISO timestamp `after`."""
    log_filter: JSON = {"flow_run_id": {"any_": [str(flow_run_id)]}}
    if after:
        log_filter["timestamp"] = {"after_": after}
    body = {"logs": log_filter, "sort": "TIMESTAMP_ASC", "limit": min(limit, PAGE_SIZE_LIMIT), "offset": 0}
    logs = _post("/logs/filter", body)
    if not after:
        return logs
    # Prefect's `after_` is inclusive; a tailing client passes the last timestamp it saw, perhaps spelt differently
    # ("Z" or "+00:00"), so compare instants rather than strings.
    seen_up_to = _instant(after)
    return [log for log in logs if _instant(log["timestamp"]) > seen_up_to]


def _instant(timestamp: str) -> datetime:
    instant = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)
