"""The stream pipeline's tables: records consumed from the Redis stream, and the metrics the full analysis computes.

Rows are written only by `pipelines.services` (called by the flows `stream_incremental` and `stream_full_analysis`).
A record is unique per (stream, message id), so a message delivered twice (its ack lost, or reclaimed from a dead
consumer after it was stored) is stored once.
"""

from __future__ import annotations

from django.db import models


class StreamRecord(models.Model):
    stream = models.CharField(max_length=100)
    message_id = models.CharField(max_length=40, help_text="the Redis stream entry id, <ms>-<seq>")
    source = models.CharField(max_length=100)
    value = models.FloatField()
    produced_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True, help_text="the entry's fields as received")
    stored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-produced_at"]
        constraints = [models.UniqueConstraint(fields=["stream", "message_id"], name="stream_record_unique_message")]
        indexes = [models.Index(fields=["stream", "-produced_at"], name="stream_record_produced_idx")]

    def __str__(self) -> str:
        return f"{self.stream} {self.message_id}"


class StreamMetric(models.Model):
    """One source's figures over one analysis window."""

    stream = models.CharField(max_length=100)
    source = models.CharField(max_length=100)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    count = models.PositiveIntegerField()
    mean = models.FloatField()
    p95 = models.FloatField()
    maximum = models.FloatField()
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_end", "source"]
        indexes = [models.Index(fields=["stream", "source", "-window_end"], name="stream_metric_source_idx")]

    def __str__(self) -> str:
        return f"{self.source} over {self.window_start:%Y-%m-%d %H:%M} to {self.window_end:%H:%M}"
