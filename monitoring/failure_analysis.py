"""Failure analysis over a window of the mirror (read-only): failed and crashed runs grouped by deployment and error,
recurring causes, flaky deployments and failure rates.

A run's error is the exception line of the first traceback in its logs (read from Prefect), else its state message;
digits and ids are masked so that "attempt 3" and "attempt 4" count as one cause. A deployment is flaky when a run
failed and a later run with the same parameters completed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q

from workflows import prefect_api
from workflows.models import FlowRun, StateType

FAILED_TYPES = (StateType.FAILED, StateType.CRASHED)
FINISHED_TYPES = (StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED)
TRACEBACK_HEADER = "Traceback (most recent call last):"
NO_DEPLOYMENT = "(no deployment)"
_IDS = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|0x[0-9a-f]+", re.IGNORECASE)
_NUMBERS = re.compile(r"\d+")


@dataclass
class FailureGroup:
    deployment: str
    error: str
    example: str
    runs: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.runs)


@dataclass(frozen=True)
class FlakyDeployment:
    deployment: str
    parameters: str
    failed_run: str
    recovered_run: str


@dataclass(frozen=True)
class DeploymentRate:
    deployment: str
    finished: int
    failed: int

    @property
    def failure_rate(self) -> float:
        return round(100.0 * self.failed / self.finished, 2) if self.finished else 0.0


def exception_line(logs: list[dict[str, Any]]) -> str | None:
    """The last line (the exception and its message) of the first traceback in the logs, oldest first."""
    for log in logs:
        message = log.get("message") or ""
        if TRACEBACK_HEADER in message:
            lines = [line.strip() for line in message.split(TRACEBACK_HEADER, 1)[1].splitlines() if line.strip()]
            if lines:
                return lines[-1]
    return None


def error_signature(text: str) -> str:
    return _NUMBERS.sub("N", _IDS.sub("<id>", text.strip()))[:300]


def _deployment_name(run: FlowRun) -> str:
    return f"{run.flow.name}/{run.deployment.name}" if run.deployment else NO_DEPLOYMENT


def failed_runs(start: datetime, end: datetime, limit: int) -> list[FlowRun]:
    runs = FlowRun.objects.filter(state_type__in=FAILED_TYPES, end_time__gte=start, end_time__lt=end)
    return list(runs.select_related("flow", "deployment").order_by("-end_time")[:limit])


def group_failures(runs: list[FlowRun], read_logs: bool = True) -> list[FailureGroup]:
    """Runs grouped by (deployment, error), largest group first; logs read from Prefect when `read_logs`."""
    logs = prefect_api.map_concurrently(_logs_of, [run.prefect_id for run in runs], max_workers=4) if read_logs else []
    groups: dict[tuple[str, str], FailureGroup] = {}
    for index, run in enumerate(runs):
        error = (exception_line(logs[index]) if logs else None) or run.state_message or run.state_name or "(no message)"
        key = (_deployment_name(run), error_signature(error))
        group = groups.setdefault(key, FailureGroup(key[0], key[1], error))
        group.runs.append(run.name)
    return sorted(groups.values(), key=lambda group: (-group.count, group.deployment, group.error))


def _logs_of(prefect_id: Any) -> list[dict[str, Any]]:
    try:
        return prefect_api.read_flow_run_logs(prefect_id, limit=200)
    except prefect_api.PrefectError:  # gone from Prefect, or Prefect down: fall back to the state message
        return []


def flaky_deployments(start: datetime, end: datetime, deployments: set[str]) -> list[FlakyDeployment]:
    """Deployments (of `deployments`) with a failed run followed, later in the window, by a completed run with the
    same parameters."""
    runs = (
        FlowRun.objects.filter(end_time__gte=start, end_time__lt=end, deployment__isnull=False)
        .filter(state_type__in=[StateType.COMPLETED, *FAILED_TYPES])
        .select_related("flow", "deployment")
        .order_by("end_time")
    )
    last_failure: dict[tuple[str, str], FlowRun] = {}
    flaky: dict[tuple[str, str], FlakyDeployment] = {}
    for run in runs.iterator(chunk_size=2000):
        name = _deployment_name(run)
        if name not in deployments:
            continue
        key = (name, json.dumps(run.parameters, sort_keys=True))
        if run.state_type in FAILED_TYPES:
            last_failure[key] = run
        elif key in last_failure and key not in flaky:
            flaky[key] = FlakyDeployment(name, key[1], last_failure[key].name, run.name)
    return list(flaky.values())


def failure_rates(start: datetime, end: datetime) -> list[DeploymentRate]:
    """Each deployment's finished and failed (or crashed) runs among those that ended in the window."""
    rows = (
        FlowRun.objects.filter(end_time__gte=start, end_time__lt=end, state_type__in=FINISHED_TYPES)
        .values("deployment__flow__name", "deployment__name")
        .annotate(finished=Count("id"), failed=Count("id", filter=Q(state_type__in=FAILED_TYPES)))
    )
    rates = [
        DeploymentRate(
            f"{row['deployment__flow__name']}/{row['deployment__name']}" if row["deployment__name"] else NO_DEPLOYMENT,
            row["finished"],
            row["failed"],
        )
        for row in rows
    ]
    return sorted(rates, key=lambda rate: (-rate.failure_rate, rate.deployment))
