"""Included by `controlplane/urls.py` by name (a string), so the project does not import the monitoring app."""

from __future__ import annotations

from django.urls import path

from monitoring import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.prometheus_metrics, name="metrics"),
    path("admin-dashboard/data", views.dashboard_data, name="dashboard-data"),
]
