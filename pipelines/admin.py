"""The stream pipeline's tables, read-only: written by the stream flows only."""

from __future__ import annotations

from django.contrib import admin

from controlplane.admin_mixins import ReadOnlyAdminMixin
from pipelines.models import StreamMetric, StreamRecord


@admin.register(StreamRecord)
class StreamRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("message_id", "stream", "source", "value", "produced_at", "stored_at")
    list_filter = ("stream",)
    search_fields = ("=message_id", "source")
    show_full_result_count = False


@admin.register(StreamMetric)
class StreamMetricAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("source", "stream", "window_start", "window_end", "count", "mean", "p95", "maximum")
    list_filter = ("stream", "source")
