"""Audit events as CSV or JSON, streamed in id order so a large export neither loads everything nor times out."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from controlplane.audit.models import AuditEvent

FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}
COLUMNS = [
    "id", "occurred_at", "actor_label", "actor_user_id", "actor_token_id", "action", "target_type", "target_id",
    "outcome", "message", "ip_address", "user_agent", "before", "after", "prev_hash", "hash",
]  # fmt: skip
_CHUNK = 2000


def event_record(event: AuditEvent) -> dict[str, Any]:
    return {column: getattr(event, column) for column in COLUMNS}


def response(queryset: QuerySet[AuditEvent], fmt: str) -> StreamingHttpResponse:
    rows = queryset.iterator(chunk_size=_CHUNK)
    body = _csv(rows) if fmt == "csv" else _json(rows)
    result = StreamingHttpResponse(body, content_type=FORMATS[fmt])
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    result["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.{fmt}"'
    return result


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv(events: Iterator[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(COLUMNS)
    for event in events:
        record = event_record(event)
        yield writer.writerow([_csv_cell(record[column]) for column in COLUMNS])


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A cell starting with = + - @ is a formula in spreadsheets; neutralise it (CSV injection).
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def _json(events: Iterator[AuditEvent]) -> Iterator[str]:
    yield "["
    for index, event in enumerate(events):
        yield ("," if index else "") + json.dumps(event_record(event), cls=DjangoJSONEncoder)
    yield "]"
