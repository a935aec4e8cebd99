"""The ASGI entry point (uvicorn, `make run` and compose): Django for HTTP, and for websockets the applications named
by path prefix in the `ASGI_WEBSOCKET_APPLICATIONS` setting (the gateway's proxy of Prefect's UI websockets). HTTP
paths named in `ASGI_HTTP_APPLICATIONS` go to the application a factory makes from Django's (the gateway's fast path
for Prefect's API, which hands Django what it should answer itself). Named by string, so `controlplane` imports no
domain app."""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)
from django.utils.module_loading import import_string  # noqa: E402

_websocket_applications = [(prefix, import_string(path)) for prefix, path in settings.ASGI_WEBSOCKET_APPLICATIONS]
_http_applications = [
    (prefix, import_string(factory)(django_application)) for prefix, factory in settings.ASGI_HTTP_APPLICATIONS
]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "websocket":
        for prefix, websocket_application in _websocket_applications:
            if scope["path"].startswith(prefix):
                return await websocket_application(scope, receive, send)
        await receive()
        await send({"type": "websocket.close", "code": 1000})
        return None
    if scope["type"] == "http":
        for prefix, http_application in _http_applications:
            if scope["path"].startswith(prefix):
                return await http_application(scope, receive, send)
    return await django_application(scope, receive, send)
