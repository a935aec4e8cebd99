"""Prefect's UI websockets through the gateway: the session cookie opens them, Prefect's auth handshake is the
gateway's business, live events and logs come through."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.prefect_helpers import prefect_post

pytestmark = pytest.mark.prefect
DEADLINE = 60


def _socket_url(gateway, path: str) -> str:
    return gateway.url.replace("http://", "ws://") + f"/prefect/api{path}"


def _browser_headers(gateway, role: str) -> dict[str, str]:
    return {"Cookie": f"sessionid={gateway.as_role(role).cookies['sessionid']}", "Origin": gateway.url}


async def _first_message(gateway, path: str, filter_: dict, emit) -> dict:
    async with connect(
        _socket_url(gateway, path), subprotocols=["prefect"], additional_headers=_browser_headers(gateway, "viewer")
    ) as socket:
        await socket.send(json.dumps({"type": "auth", "token": None}))  # what Prefect's UI sends
        assert json.loads(await socket.recv())["type"] == "auth_success"
        await socket.send(json.dumps({"type": "filter", "filter": filter_}))
        async with asyncio.timeout(DEADLINE):
            while True:  # emit until something arrives: a subscription may take a moment to be registered upstream
                await asyncio.to_thread(emit)
                try:
                    return json.loads(await asyncio.wait_for(socket.recv(), 2))
                except TimeoutError:
                    continue


def test_a_viewer_receives_live_logs_through_the_gateway(gateway):
    run_id = str(uuid.uuid4())

    def emit() -> None:
        log = {"name": "gw", "level": 20, "message": "through the gateway", "flow_run_id": run_id,
               "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
        prefect_post("/logs/", [log])

    message = asyncio.run(_first_message(gateway, "/logs/out", {"flow_run_id": {"any_": [run_id]}}, emit))
    assert message["type"] == "log" and message["log"]["message"] == "through the gateway"


def test_a_viewer_receives_live_events_through_the_gateway(gateway):
    resource = f"gw.test.{uuid.uuid4()}"

    def emit() -> None:
        event = {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": "gw.test.happened",
                 "resource": {"prefect.resource.id": resource}}  # fmt: skip
        prefect_post("/events", [event])

    now = datetime.now(UTC)
    occurred = {"since": (now - timedelta(minutes=5)).isoformat(), "until": (now + timedelta(hours=1)).isoformat()}
    event_filter = {"resource": {"id": [resource]}, "event": {"name": ["gw.test.happened"]}, "occurred": occurred}
    message = asyncio.run(_first_message(gateway, "/events/out", event_filter, emit))
    assert message["type"] == "event" and message["event"]["resource"]["prefect.resource.id"] == resource


def test_a_socket_without_a_session_or_from_another_origin_is_refused(gateway):
    async def attempt(headers: dict[str, str], path: str = "/logs/out") -> None:
        async with connect(_socket_url(gateway, path), subprotocols=["prefect"], additional_headers=headers):
            pass

    with pytest.raises(InvalidStatus):
        asyncio.run(attempt({"Origin": gateway.url}))
    forged = {**_browser_headers(gateway, "viewer"), "Origin": "https://evil.example.com"}
    with pytest.raises(InvalidStatus):
        asyncio.run(attempt(forged))
    with pytest.raises(InvalidStatus):  # emitting events is for machines (the auth string) and admins
        asyncio.run(attempt({**_browser_headers(gateway, "operator")}, "/events/in"))
