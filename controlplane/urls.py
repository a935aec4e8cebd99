from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from controlplane.api.schema import schema
from controlplane.api.view import ControlPlaneGraphQLView

admin.site.site_header = "Prefect control plane"
admin.site.site_title = "Control plane"
admin.site.index_title = "Operations"

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("graphql/", ControlPlaneGraphQLView.as_view(schema=schema), name="graphql"),
    # /healthz, /readyz, /metrics: named by string, so the project does not import the monitoring app.
    path("", include("monitoring.urls")),
]
