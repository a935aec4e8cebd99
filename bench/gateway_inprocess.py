"""The gateway's own cost, without the network or Prefect: `/prefect/api/flow_runs/count` with a Bearer token
through `controlplane.asgi.application`, called in-process with Prefect stubbed (httpx MockTransport), on a fresh
SQLite database. Run it once per side, alternating, to compare the fast path with Django's path:

    .venv/bin/python -m bench.gateway_inprocess --requests 300
    GATEWAY_FAST_PATH=false .venv/bin/python -m bench.gateway_inprocess --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PATH = "/prefect/api/flow_runs/count"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="cp-bench-gateway-inprocess-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="controlplane.settings", DATABASE_URL=f"sqlite:///{home}/db.sqlite3", VAR_DIR=home,
        ALLOWED_HOSTS="127.0.0.1", DEBUG="false", PREFECT_API_URL="http://127.0.0.1:9/api",
        PREFECT_API_AUTH_STRING="bench:bench", CACHE_URL=f"filecache://{home}/cache",
    )  # fmt: skip
    sys.path.insert(0, str(REPO_ROOT))
    import django

    from bench.graphql import role_token

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    asyncio.run(_measure(role_token("viewer"), args.requests))


async def _measure(token: str, requests: int) -> None:
    import httpx
    from django.conf import settings

    from controlplane.asgi import application
    from gateway import upstream

    def prefect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=httpx.ByteStream(b"1"), headers={"content-type": "application/json"})

    upstream._clients[asyncio.get_running_loop()] = httpx.AsyncClient(transport=httpx.MockTransport(prefect))
    headers = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {token}".encode())]
    timings = []
    for index in range(50 + requests):
        started = time.perf_counter()
        status = await _call(application, headers)
        if index >= 50:
            timings.append((time.perf_counter() - started) * 1000)
    assert status == 200, status
    side = "fast path" if settings.GATEWAY_FAST_PATH else "Django path"
    p50, p90 = statistics.median(timings), statistics.quantiles(timings, n=10)[8]
    print(f"{side}: p50 {p50:.2f} ms, p90 {p90:.2f} ms over {requests} requests (Prefect stubbed)")


async def _call(application: Any, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": PATH, "raw_path": PATH.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await application(scope, receive, send)
    return sent[0]["status"]


if __name__ == "__main__":
    main()
