from __future__ import annotations

from django.urls import path, re_path

from gateway import views

app_name = "gateway"

urlpatterns = [
    path("prefect/ui-settings", views.ui_settings, name="ui-settings"),
    re_path(r"^prefect/api/(?P<path>.*)$", views.prefect_api, name="api"),
    re_path(r"^prefect/(?P<path>.*)$", views.prefect_ui, name="ui"),
    # Prefect's UI asks for its state icons at the root (`/ico/scheduled.svg`), whatever its serve base.
    re_path(r"^(?P<path>ico/.*)$", views.prefect_ui, name="ui-icons"),
]
