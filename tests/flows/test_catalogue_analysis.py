"""This part of the catalogue (analysis, disk forecast, digest, stream pipeline): each deployment's category,
schedule and typed parameters, and each flow loading from its module entrypoint in a fresh process, as Prefect's run
subprocess loads it (the `flows` package sets Django up before the flow module imports models)."""

from __future__ import annotations

import subprocess
import sys

from flows.catalogue import analysis, maintenance_forecast, notifications, pipelines
from tests.prefect_helpers import REPO_ROOT

EXPECTED = {
    "failure-analysis": ("analysis", {"cron": "15 * * * *"}),
    "performance-monitoring": ("analysis", {"cron": "30 * * * *"}),
    "predictive-maintenance": ("maintenance", {"cron": "0 */3 * * *"}),
    "daily-digest": ("notifications", {"cron": "0 7 * * *"}),
    "stream-incremental": ("pipelines", {"interval": 300.0}),
    "stream-full-analysis": ("pipelines", {"cron": "0 */6 * * *"}),
}


def _deployments():
    return [d for module in (analysis, maintenance_forecast, notifications, pipelines) for d in module.deployments()]


def test_each_deployment_has_its_category_schedule_and_typed_parameters():
    deployments = {deployment.name: deployment for deployment in _deployments()}
    assert set(deployments) == set(EXPECTED)
    for name, (category, schedule) in EXPECTED.items():
        deployment = deployments[name]
        assert deployment.tags[0] == category, name
        (entry,) = deployment.schedules
        key, value = next(iter(schedule.items()))
        actual = entry.schedule.interval.total_seconds() if key == "interval" else getattr(entry.schedule, key)
        assert actual == value, name
        properties = deployment._parameter_openapi_schema.properties
        assert properties and all("type" in spec for spec in properties.values()), name
    stream_schema = deployments["stream-incremental"]._parameter_openapi_schema.properties
    assert stream_schema["batch_size"]["type"] == "integer"


def test_each_flow_loads_from_its_module_entrypoint_in_a_fresh_process():
    entrypoints = [deployment.entrypoint for deployment in _deployments()]
    program = (
        "import sys\n"
        "from prefect.flows import load_flow_from_entrypoint\n"
        "for entrypoint in sys.argv[1:]:\n"
        "    print(load_flow_from_entrypoint(entrypoint, use_placeholder_flow=False).name)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *entrypoints], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [
        "failure_analysis", "performance_monitoring", "predictive_maintenance", "daily_digest", "stream_incremental",
        "stream_full_analysis",
    ]  # fmt: skip
