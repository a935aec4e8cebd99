"""Serve the flow catalogue as deployments with schedules: `python -m flows.serve`.

The process polls Prefect for scheduled runs of these deployments and executes them (docs/architecture.md, "Prefect
facts": a deployment run needs a process that executes it). Every module of `flows/catalogue/` that defines
`deployments()` contributes its entries. `FLOWS_SERVE_ONLY` (comma-separated deployment names) serves a subset: the
test suite serves only the two deployments it runs, so the catalogue's schedules do not load its SQLite Prefect.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

import flows.catalogue
from flows.catalogue.examples import ETL_DEPLOYMENT
from flows.catalogue.system import HEALTH_CHECK_DEPLOYMENT

__all__ = ["ETL_DEPLOYMENT", "HEALTH_CHECK_DEPLOYMENT", "build_deployments", "catalogue_modules", "main"]


def catalogue_modules() -> list[ModuleType]:
    names = sorted(info.name for info in pkgutil.iter_modules(flows.catalogue.__path__))
    modules = [importlib.import_module(f"flows.catalogue.{name}") for name in names]
    return [module for module in modules if callable(getattr(module, "deployments", None))]


def build_deployments(only: set[str] | None = None) -> list[RunnerDeployment]:
    """Every catalogue deployment, or those named in `only` (default: FLOWS_SERVE_ONLY when set)."""
    if only is None and os.environ.get("FLOWS_SERVE_ONLY"):
        only = {name.strip() for name in os.environ["FLOWS_SERVE_ONLY"].split(",") if name.strip()}
    everything = [deployment for module in catalogue_modules() for deployment in module.deployments()]
    names = [deployment.name for deployment in everything]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise ValueError(f"deployment names used twice in the catalogue: {sorted(duplicates)}")
    if only is None:
        return everything
    unknown = only - set(names)
    if unknown:
        raise ValueError(f"FLOWS_SERVE_ONLY names deployments the catalogue does not have: {sorted(unknown)}")
    return [deployment for deployment in everything if deployment.name in only]


def main() -> None:
    serve(*build_deployments(), limit=int(os.environ.get("SERVE_CONCURRENCY_LIMIT", "5")))


if __name__ == "__main__":
    main()
