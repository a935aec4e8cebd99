"""Signals the mirror sends to the rooms above workflows, which react without workflows importing them
(docs/architecture.md, "Rooms"): monitoring raises a failed-run alert the moment the listener mirrors the failure."""

from __future__ import annotations

from django.dispatch import Signal

# Sent by the events listener after it mirrored a batch of runs, outside any transaction. `runs`: the Prefect
# payloads just written. Receivers run in the listener's process; one that raises is logged and the listener goes on.
runs_mirrored = Signal()
