"""The environment variables the control plane reads (as listed in `.env.example`), for display with secrets masked."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings

MASK = "••••••••"
_SECRET_NAME = re.compile(r"SECRET|PASSWORD|TOKEN|AUTH|HMAC|_KEY$|CREDENTIAL", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*)(?::[^@/\s]*)?@", re.IGNORECASE)
_ENV_LINE = re.compile(r"^#?\s*(?P<name>[A-Z][A-Z0-9_]*)=")


@dataclass(frozen=True)
class EnvironmentSetting:
    name: str
    shown_value: str
    is_set: bool


def masked(name: str, value: str) -> str:
    """Secrets become a mask; credentials inside URLs lose their password. Never the real secret."""
    if not value:
        return ""
    if _SECRET_NAME.search(name):
        return MASK
    return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@" if m["user"] else m["scheme"], value)


@cache
def documented_names() -> tuple[str, ...]:
    path = settings.BASE_DIR / ".env.example"
    if not path.exists():
        return ()
    names = []
    for line in path.read_text().splitlines():
        match = _ENV_LINE.match(line.strip())
        if match and match["name"] not in names:
            names.append(match["name"])
    return tuple(names)


def environment_settings() -> list[EnvironmentSetting]:
    return [
        EnvironmentSetting(name, masked(name, os.environ.get(name, "")), name in os.environ)
        for name in documented_names()
    ]
