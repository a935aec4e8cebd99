"""`manage.py listen_prefect_events`: keep the mirror fresh within seconds from Prefect's flow-run events.

Long-running (started by `make run`); stops cleanly on SIGTERM/SIGINT. Talks to settings.PREFECT_API_URL.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from workflows.listener import listen


class Command(BaseCommand):
    help = "Subscribe to Prefect's prefect.flow-run.* events and upsert the runs they name (reconnects with backoff)."

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        stats = listen(should_stop=stop.is_set, on_connected=lambda: self.stdout.write("listening", ending="\n"))
        self.stdout.write(
            f"stopped: {stats.events} events in {stats.batches} batches, {stats.runs_written} runs written, "
            f"{stats.reconnects} reconnects"
        )
