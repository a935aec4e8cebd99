from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from controlplane.api.schema import schema
from controlplane.api.view import ControlPlaneGraphQLView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("graphql/", ControlPlaneGraphQLView.as_view(schema=schema), name="graphql"),
    # /healthz, /readyz, /metrics: named by string, so the project does not import the monitoring app.
    path("", include("monitoring.urls")),
    # Prefect's UI and API behind our login (the gateway app; named by string, controlplane imports no domain app).
    path("", include("gateway.urls")),
]

# A database outage answers 503 + Retry-After, not a 500 (controlplane/db/outage.py).
handler500 = "controlplane.db.outage.server_error"
# A refusal says which role grants the action (controlplane/access/refusals.py).
handler403 = "controlplane.access.refusals.permission_denied"
