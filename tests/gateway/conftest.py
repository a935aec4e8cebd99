"""The gateway as a browser and a script meet it: uvicorn serving `controlplane.asgi` on loopback (its own SQLite,
migrated and seeded here) in front of the session's real, locked Prefect server; httpx clients logged in through
the admin login as each role. The gateway's audit log and mirror are read straight from its SQLite file."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import manage, site_env, start_uvicorn

PASSWORD = "gateway-Password-for-tests"
ROLES = ("viewer", "operator", "admin", "auditor")
SEED_SCRIPT = f"""
import json
from django.contrib.auth.models import Group, User
from controlplane.audit.actor import Actor
from controlplane.access.services import create_api_token

tokens = {{}}
for role in {ROLES!r}:
    user = User.objects.create_user(f"gw-{{role}}", password="{PASSWORD}", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    tokens[role] = create_api_token(Actor.system(), user, "gateway-tests")[1]
print(json.dumps(tokens))
"""


def login(url: str, role: str) -> httpx.Client:
    """A browser-like client: logged in through the admin login form, sending our Origin like a page of ours."""
    client = httpx.Client(base_url=url, timeout=60, headers={"Origin": url})
    client.get("/admin/login/")
    answer = client.post(
        "/admin/login/",
        data={"username": f"gw-{role}", "password": PASSWORD, "csrfmiddlewaretoken": client.cookies["csrftoken"]},
    )
    assert answer.status_code == 302, answer.text[-2000:]
    return client


@dataclass
class Gateway:
    url: str
    env: dict[str, str]
    home: Path
    database: Path
    tokens: dict[str, str]
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def as_role(self, role: str) -> httpx.Client:
        if role not in self.clients:
            self.clients[role] = login(self.url, role)
        return self.clients[role]

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database, timeout=30) as connection:
            return connection.execute(sql, params).fetchall()

    def audit_events(self, action_like: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT actor_label, action, target_id, outcome, after, message FROM controlplane_auditevent "
            "WHERE action LIKE ? ORDER BY id",
            action_like,
        )
        keys = ("actor", "action", "target_id", "outcome", "after", "message")
        return [{**dict(zip(keys, row, strict=True)), "after": json.loads(row[4] or "null")} for row in rows]


@pytest.fixture(scope="session")
def gateway_env(prefect_server) -> Iterator[tuple[dict[str, str], Path, dict[str, str]]]:
    home = Path(tempfile.mkdtemp(prefix="cp-gateway-"))
    env = site_env(home, **prefect_server.client_env())
    manage(env, "migrate", "--noinput")
    tokens = json.loads(manage(env, "shell", "-c", SEED_SCRIPT).strip().splitlines()[-1])
    yield env, home, tokens


@pytest.fixture(scope="session")
def gateway(gateway_env) -> Iterator[Gateway]:
    env, home, tokens = gateway_env
    process, url = start_uvicorn("gateway", env, home)
    running = Gateway(url, env, home, home / "controlplane.sqlite3", tokens)
    try:
        yield running
    finally:
        for client in running.clients.values():
            client.close()
        process.stop()
