"""The broker down under a running web server (real processes: uvicorn, a private redis-server, then a Celery worker
and beat): reads keep being served, a bulk job submitted meanwhile is stored and answered, nothing is lost — once the
broker is back, beat's sweep sends the job again and the worker runs it to the end (docs/reliability.md)."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.devstack.processes import ManagedProcess, free_port
from tests.prefect_helpers import (
    PATIENT_RETRIES,
    PATIENT_TIMEOUT_SECONDS,
    create_deployment_in_prefect,
    create_flow_run_in_prefect,
    wait_for_state,
)
from tests.processes import manage, poll, site_env, start_celery, start_uvicorn

pytestmark = [
    pytest.mark.prefect,
    pytest.mark.faults,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary"),
]

SEED = """
from django.contrib.auth.models import Group, User
from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
from workflows.sync import sync_prefect
user = User.objects.create_user("broker-outage", password="x-long-password-1")
user.groups.add(Group.objects.get(name="operator"))
sync_prefect()
print(create_api_token(Actor.system(), user, "broker-outage")[1])
"""
RUN = "query Run($id: ID!) { flowRun(id: $id) { prefectId } }"
BULK_CANCEL = """mutation Cancel($ids: [ID!]!) { bulkCancel(ids: $ids) {
  __typename ... on BulkOperation { id status } } }"""
JOB = "query Job($id: ID!) { bulkOperation(id: $id) { status succeeded failed items { target ok error } } }"


class PrivateRedis:
    """A redis-server of this test's own on a free loopback port (never the machine's), stoppable and restartable."""

    def __init__(self, home: Path) -> None:
        self.home, self.port = home, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = ManagedProcess("redis", command, {}, log_file=self.home / "redis.log").start()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


@pytest.fixture
def home() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="cp-broker-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def graphql(url: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/graphql/",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[-2000:]
    body = answer.json()
    assert "errors" not in body, body
    return body["data"]


def test_a_bulk_job_submitted_while_the_broker_is_down_runs_once_it_returns(prefect_server, home):
    redis = PrivateRedis(home)
    deployment = create_deployment_in_prefect(f"broker-{uuid.uuid4().hex[:8]}", work_pool="idle-pool")
    runs = [create_flow_run_in_prefect(deployment, f"broker-run-{n}")["id"] for n in range(2)]
    env = site_env(
        home,
        **prefect_server.client_env(),
        VAR_DIR=str(home / "var"),
        CELERY_BROKER_URL=redis.url,
        PREFECT_API_TIMEOUT=str(PATIENT_TIMEOUT_SECONDS),  # the suite's patience with the SQLite test server
        PREFECT_CLIENT_MAX_RETRIES=str(PATIENT_RETRIES),
        BULK_SYNC_MAX_ITEMS="1",  # two runs make a background job
        REQUEUE_SECONDS="2",  # beat's sweep: every 2 s, for jobs queued 2 s or more
    )
    manage(env, "migrate", "--noinput")
    token = manage(env, "shell", "-c", SEED).strip().splitlines()[-1]
    processes: list[ManagedProcess] = []
    try:
        redis.start()
        web, url = start_uvicorn("web", env, home)
        processes.append(web)
        assert [graphql(url, token, RUN, {"id": run_id})["flowRun"]["prefectId"] for run_id in runs] == runs

        # The broker goes down: reads are still served, and the job is stored and answered, not lost, not a 5xx.
        redis.stop()
        assert graphql(url, token, RUN, {"id": runs[0]})["flowRun"]["prefectId"] == runs[0]
        job = graphql(url, token, BULK_CANCEL, {"ids": runs})["bulkCancel"]
        assert job["__typename"] == "BulkOperation" and job["status"] == "queued"
        assert "stays queued: the broker is unreachable" in (home / "web.log").read_text()

        # The broker returns; beat's sweep sends the job again and the worker runs it.
        redis.start()
        processes.append(start_celery("worker", env, home, "worker", "-P", "solo", "-l", "INFO"))
        processes.append(start_celery("beat", env, home, "beat", "-l", "INFO"))
        finished = poll(
            lambda: (
                (state := graphql(url, token, JOB, {"id": job["id"]})["bulkOperation"])["status"] == "finished"
                and state
            ),
            timeout=180,
            wanted="the job finished",
        )
        assert (finished["succeeded"], finished["failed"]) == (2, 0), finished["items"]
        for run_id in runs:
            wait_for_state(run_id, {"CANCELLED"})
    finally:
        for process in reversed(processes):
            process.stop()
        redis.stop()
