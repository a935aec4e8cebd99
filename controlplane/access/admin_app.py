"""Django's admin app on the control plane's site class (imported while apps load: no models here)."""

from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class ControlPlaneAdminConfig(AdminConfig):
    default_site = "controlplane.access.admin_site.ControlPlaneAdminSite"
