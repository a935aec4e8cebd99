"""Fixtures of the monitoring tests: a real local HTTP server that records what it receives, and Celery tasks run
in the test process."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controlplane.celery import app as celery_app
from tests.live_site import live_site  # noqa: F401 (a fixture of the browser tests)


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    url: str
    received: list[ReceivedRequest] = field(default_factory=list)
    status_code: int = 200


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    """An HTTP server on 127.0.0.1 (a free port) in a thread; each POST is recorded and answered `status_code`."""
    state = WebhookServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(ReceivedRequest(self.path, dict(self.headers.items()), body))
            self.send_response(state.status_code)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in the test process when queued (retries too, at once)."""
    previous = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    try:
        yield
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous
