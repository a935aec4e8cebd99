"""The flow catalogue: one module per category, each exposing `deployments() -> list[RunnerDeployment]`.

`flows.serve.build_deployments()` discovers every module of this package that defines `deployments()` (sorted by
module name) and serves all of them; adding a category, or a flow to one, needs no change anywhere else. Build each
entry with `catalogue_deployment()` so it carries its category tag, description, schedule and a module entrypoint.
"""

from __future__ import annotations

from typing import Any

from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.types.entrypoint import EntrypointType

CATEGORIES = ("system", "recovery", "analysis", "maintenance", "notifications", "pipelines")


def catalogue_deployment(
    flow: Flow[..., Any],
    name: str,
    category: str,
    description: str,
    *,
    interval: int | None = None,
    cron: str | None = None,
    parameters: dict[str, Any] | None = None,
    extra_tags: tuple[str, ...] = (),
) -> RunnerDeployment:
    """A deployment of `flow` tagged with its category (the first tag), on an interval (seconds) or a cron."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; one of {CATEGORIES}")
    if (interval is None) == (cron is None):
        raise ValueError(f"{name}: give exactly one of interval and cron")
    return flow.to_deployment(
        name=name,
        interval=interval,
        cron=cron,
        parameters=parameters or {},
        tags=[category, *extra_tags],
        description=description,
        # `flows.<module>.<flow>`: Prefect's run subprocess imports the package, which configures Django.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
