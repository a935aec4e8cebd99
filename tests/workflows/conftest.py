from __future__ import annotations

from tests.workflows.operation_runs import idle_deployment, operator, patient_prefect_client, prefect_requests

__all__ = ["idle_deployment", "operator", "patient_prefect_client", "prefect_requests"]  # shared fixtures
