from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Prefect gateway"

    def ready(self) -> None:
        from gateway.routes import check_installed_prefect_version

        check_installed_prefect_version()
