"""Every write of the stream pipeline: consumed entries stored as records, window metrics computed and stored, and
the evaluation that raises an alert (through `monitoring.services`) for a source running hot."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from monitoring import notify
from monitoring.figures import percentile
from monitoring.models import Severity
from monitoring.services import open_alert, resolve_cleared_alert
from pipelines.models import StreamMetric, StreamRecord
from pipelines.stream import StreamEntry

logger = logging.getLogger(__name__)
STREAM_VALUE_RULE = "stream_value"


@dataclass(frozen=True)
class StoredBatch:
    stored: int
    rejected: list[str]
    message_ids: list[str]


def store_entries(stream: str, entries: list[StreamEntry]) -> StoredBatch:
    """Store the entries as records in one transaction; an entry already stored (delivered twice) is skipped, a
    malformed one is rejected (logged, and still acknowledged by the caller: retrying cannot fix it)."""
    records, rejected = [], []
    for entry in entries:
        record = _record_of(stream, entry)
        if record is None:
            rejected.append(entry.message_id)
        else:
            records.append(record)
    if rejected:
        logger.warning("rejected %d malformed stream entries: %s", len(rejected), rejected[:10])
    with transaction.atomic():
        existing = set(
            StreamRecord.objects.filter(stream=stream, message_id__in=[r.message_id for r in records]).values_list(
                "message_id", flat=True
            )
        )
        new_records = [record for record in records if record.message_id not in existing]
        StreamRecord.objects.bulk_create(new_records, ignore_conflicts=True)
    return StoredBatch(len(new_records), rejected, [entry.message_id for entry in entries])


def _record_of(stream: str, entry: StreamEntry) -> StreamRecord | None:
    try:
        value = float(entry.fields["value"])
        produced_at = datetime.fromisoformat(entry.fields["produced_at"])
        source = entry.fields["source"].strip()[:100]
    except (KeyError, ValueError):
        return None
    if not source or produced_at.tzinfo is None:
        return None
    return StreamRecord(
        stream=stream, message_id=entry.message_id, source=source, value=value, produced_at=produced_at,
        payload=entry.fields,
    )  # fmt: skip


@dataclass(frozen=True)
class SourceFigures:
    source: str
    count: int
    mean: float
    p95: float
    maximum: float


def window_figures(stream: str, start: datetime, end: datetime) -> list[SourceFigures]:
    """Each source's count, mean, p95 and maximum over the records produced in [start, end)."""
    values: dict[str, list[float]] = defaultdict(list)
    rows = StreamRecord.objects.filter(stream=stream, produced_at__gte=start, produced_at__lt=end)
    for source, value in rows.values_list("source", "value").iterator(chunk_size=5000):
        values[source].append(value)
    return [
        SourceFigures(source, len(vals), round(sum(vals) / len(vals), 4), percentile(vals, 0.95), max(vals))
        for source, vals in sorted(values.items())
    ]


def store_metrics(stream: str, start: datetime, end: datetime, figures: list[SourceFigures]) -> list[StreamMetric]:
    window = {"stream": stream, "window_start": start, "window_end": end}
    rows = [
        StreamMetric(**window, source=f.source, count=f.count, mean=f.mean, p95=f.p95, maximum=f.maximum)
        for f in figures
    ]
    with transaction.atomic():
        return StreamMetric.objects.bulk_create(rows)


def alert_on_hot_sources(stream: str, metrics: list[StreamMetric], p95_threshold: float) -> list[str]:
    """Raise a warning alert (audited as the system, notified) for each source whose p95 is above the threshold, and
    resolve the open alert of each source back at or below it (a source with no records in the window is not judged);
    returns the sources alerted (an alert already open for a source is not repeated)."""
    now = timezone.now()
    alerted = []
    for metric in metrics:
        subject = f"stream:{stream}:{metric.source}"
        if metric.p95 <= p95_threshold:
            resolve_cleared_alert(STREAM_VALUE_RULE, subject, now=now, value=metric.p95)
            continue
        message = f"Stream {stream}: {metric.source} p95 {metric.p95:g} > {p95_threshold:g} ({metric.count} records)"
        alert = open_alert(STREAM_VALUE_RULE, subject, Severity.WARNING, message, now=now, value=metric.p95)
        if alert is not None:
            notify.notify_alert(alert, now)
            alerted.append(metric.source)
    return alerted
