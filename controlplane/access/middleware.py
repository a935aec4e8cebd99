"""`Authorization: Bearer <token>`: the request acts as the token's user, with that user's permissions."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from controlplane.access.services import authenticate_token

BEARER = "bearer "


class BearerTokenMiddleware:
    """Authenticate API-token requests; place after `AuthenticationMiddleware`.

    A token request carries no cookie the browser would send by itself, so CSRF cannot be forged with it: CSRF is
    skipped for that request only. Requests with a session keep full CSRF protection. A bad token is refused with
    401 rather than falling back to anonymous, so a script notices at once that its token stopped working.
    Paths in `BEARER_TOKEN_EXEMPT_PATHS` (`/metrics`, whose bearer token is `METRICS_TOKEN`) check their own.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[: len(BEARER)].lower() != BEARER or request.path_info in settings.BEARER_TOKEN_EXEMPT_PATHS:
            request.api_token = None
            return self.get_response(request)
        token = authenticate_token(header[len(BEARER) :].strip())
        if token is None:
            response = JsonResponse({"errors": [{"message": "Invalid, expired or revoked API token."}]}, status=401)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        user = token.user
        request.user = user
        request.api_token = token

        async def auser() -> object:
            return user

        request.auser = auser
        request._dont_enforce_csrf_checks = True
        return self.get_response(request)
