"""In-process cost of one 100-run GraphQL page: graphql-core's own executor vs `FastLeafExecutor`, side by side.

    .venv/bin/python -m bench.graphql_executor [--runs 120] [--rounds 200]

Uses a temporary SQLite mirror (migrated, then filled with factory runs over 12 deployments), a viewer whose
permissions are loaded, and the page of bench/graphql.py. Both executors run on the same schema, interleaved request
by request, so both see the same machine; prints the median and the minimum of each (not a timed test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _setup(database: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{database}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _seed(runs: int) -> Any:
    from tests.factories import DeploymentFactory, FlowRunFactory, UserFactory

    deployments = DeploymentFactory.create_batch(12)
    for index in range(runs):
        FlowRunFactory(deployment=deployments[index % len(deployments)])
    viewer = UserFactory(role="viewer")
    viewer.get_all_permissions()
    return viewer


def _execute(executor: type, user: Any, query: str) -> float:
    from django.test import RequestFactory
    from strawberry.django.context import StrawberryDjangoContext

    from controlplane.api.schema import schema

    request = RequestFactory().post("/graphql/")
    request.user = user
    context = StrawberryDjangoContext(request=request, response=None)
    previous, schema.execution_context_class = schema.execution_context_class, executor
    try:
        started = time.perf_counter()
        result = schema.execute_sync(query, variable_values={"first": 100}, context_value=context)
        seconds = time.perf_counter() - started
    finally:
        schema.execution_context_class = previous
    assert result.errors is None and len(result.data["flowRuns"]["edges"]) == 100, result.errors
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=120, help="flow runs in the mirror (≥ 100)")
    parser.add_argument("--rounds", type=int, default=200, help="requests per executor, after 20 unmeasured")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        _setup(Path(home) / "mirror.sqlite3")
        from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

        from bench.graphql import RUNS_QUERY
        from controlplane.api.executor import FastLeafExecutor

        viewer = _seed(args.runs)
        executors = {
            "graphql-core's executor": StrawberryGraphQLCoreExecutionContext,
            "FastLeafExecutor": FastLeafExecutor,
        }
        times: dict[str, list[float]] = {name: [] for name in executors}
        for round_ in range(args.rounds + 20):
            for name, executor in executors.items():
                seconds = _execute(executor, viewer, RUNS_QUERY % "")
                if round_ >= 20:
                    times[name].append(seconds)
        print(
            f"flowRuns(first: 100) + flow, deployment, work pool; {args.rounds} interleaved requests each, in-process"
        )
        for name, values in times.items():
            print(f"  {name:24} median {statistics.median(values) * 1000:6.1f} ms   min {min(values) * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
