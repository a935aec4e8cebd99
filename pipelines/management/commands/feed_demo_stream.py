"""`manage.py feed_demo_stream`: append demo readings to the pipeline's Redis stream (STREAM_REDIS_URL)."""

from __future__ import annotations

import random
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pipelines import stream


class Command(BaseCommand):
    help = "Append readings {source, value, produced_at} to the stream the stream_incremental flow consumes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--count", type=int, default=100, help="readings per round")
        parser.add_argument("--sources", type=int, default=5, help="distinct sources (sensor-1 … sensor-N)")
        parser.add_argument("--rounds", type=int, default=1, help="rounds to write (0: until interrupted)")
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between rounds")
        parser.add_argument("--seed", type=int, default=None, help="for reproducible values")
        parser.add_argument("--redis-url", default=settings.STREAM_REDIS_URL)
        parser.add_argument("--stream", default=settings.STREAM_NAME)

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["redis_url"]:
            raise CommandError("No Redis: set STREAM_REDIS_URL or pass --redis-url.")
        client = stream.connect(options["redis_url"])
        generator = random.Random(options["seed"])  # noqa: S311 -- demo readings, not security
        written, round_number = 0, 0
        while options["rounds"] == 0 or round_number < options["rounds"]:
            if round_number:
                time.sleep(options["interval"])
            for _ in range(options["count"]):
                source = generator.randint(1, options["sources"])
                reading = {
                    "source": f"sensor-{source}",
                    "value": f"{generator.gauss(40 + 5 * source, 8):.3f}",
                    "produced_at": timezone.now().isoformat(),
                }
                stream.append(client, options["stream"], reading)
            written += options["count"]
            round_number += 1
        self.stdout.write(f"appended {written} readings to {options['stream']}")
