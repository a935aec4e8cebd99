"""Domain errors raised by the services; the admin and GraphQL turn them into messages or error payloads."""

from __future__ import annotations


class ServiceError(Exception):
    """A service refused or could not do what was asked; `.message` is fit to show to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermissionDeniedError(ServiceError):
    """The actor lacks the permission the operation needs."""


class InvalidInput(ServiceError):
    """The input does not validate; `.field_errors` maps each field (or "__all__") to its messages."""

    def __init__(self, message: str, field_errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.field_errors: dict[str, list[str]] = field_errors or {}


class OperationNotAllowed(ServiceError):
    """The operation is valid input but not possible now: paused deployment, run already finished, …"""


class UpstreamUnavailable(ServiceError):
    """Prefect could not be reached or failed on its side."""
