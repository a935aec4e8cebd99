"""Prefect flows. Importing the package configures Django (flows/django_env.py), so a flow may use the control
plane's services and models."""

from flows.django_env import ensure_django

ensure_django()
