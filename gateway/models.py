from __future__ import annotations

from django.db import models


class PrefectGateway(models.Model):
    """No table: the holder of the gateway's own permission (Django permissions hang on a model)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("administer_prefect", "Can do anything in Prefect through the gateway")]

    def __str__(self) -> str:
        return "Prefect gateway"
