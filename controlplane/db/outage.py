"""A request that fails because the database is unreachable answers 503 (with `Retry-After`) instead of a 500, so
clients and load balancers see an outage they can wait out, and the log says so in one line. Django closes the
broken connection at the end of the request; `CONN_HEALTH_CHECKS` makes the next request reconnect once the
database is back."""

from __future__ import annotations

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as django_server_error

logger = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 5
MESSAGE = "The control plane's database is unavailable; retry shortly."


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: 503 for a database outage (called while the exception is being handled), Django's page else."""
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError):
        return django_server_error(request)
    logger.error("database unavailable while serving %s: %s", request.path, str(error).strip().splitlines()[0])
    if request.path.startswith("/graphql/"):
        response: HttpResponse = JsonResponse(
            {"data": None, "errors": [{"message": MESSAGE, "extensions": {"code": "DATABASE_UNAVAILABLE"}}]},
            status=503,
        )
    else:
        response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
