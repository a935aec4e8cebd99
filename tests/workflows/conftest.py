from __future__ import annotations

from tests.workflows.operation_runs import idle_deployment, prefect_requests

__all__ = ["idle_deployment", "prefect_requests"]
