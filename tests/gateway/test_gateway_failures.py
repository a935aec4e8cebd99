"""A Prefect that cannot answer: the gateway says so in JSON — 502 when nothing listens, 504 when it is too slow."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.gateway.conftest import login, start_uvicorn

pytestmark = pytest.mark.prefect


@pytest.fixture
def silent_prefect() -> Iterator[socket.socket]:
    """A port that accepts connections (the kernel's backlog) and never answers a byte."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener
    listener.close()


def test_a_slow_prefect_is_a_504_and_a_stopped_one_a_502(gateway_env, silent_prefect):
    env, home, _ = gateway_env
    port = silent_prefect.getsockname()[1]
    process, url = start_uvicorn(
        "gateway-failures",
        {**env, "PREFECT_API_URL": f"http://127.0.0.1:{port}/api", "PREFECT_GATEWAY_TIMEOUT": "1"},
        home,
    )
    viewer = login(url, "viewer")
    try:
        slow = viewer.post("/prefect/api/flow_runs/filter", json={})
        assert slow.status_code == 504
        assert slow.json()["error"] == "prefect_timeout" and "within 1s" in slow.json()["detail"]
        silent_prefect.close()  # Prefect stopped: nothing listens on its port any more
        stopped = viewer.post("/prefect/api/flow_runs/filter", json={})
        assert stopped.status_code == 502
        assert stopped.json()["error"] == "prefect_unavailable"
        assert viewer.get("/prefect/").status_code == 502
    finally:
        viewer.close()
        process.stop()
