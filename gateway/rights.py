"""Whether a user may send a request to Prefect through the gateway, decided from the route table.

Pure decisions (no I/O but the user's permissions): the HTTP view and the websocket proxy ask `decide()`. Secret block
values are only for `gateway.administer_prefect`: for anyone else `include_secrets` is turned off in the query and
in a JSON body, so Prefect answers with obfuscated values instead of refusing the whole read.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from gateway.routes import ADMINISTER_PREFECT, BY_TARGET_STATE, CANCEL, RETRY, Right, match

# The states an operator may ask for through `set_state`, and the permission each needs.
TARGET_STATE_PERMISSIONS = {"CANCELLING": CANCEL, "SCHEDULED": RETRY}
SECRETS_PARAMETER = "include_secrets"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    right: Right
    permission: str
    method: str
    route: str  # the table's template, or the path itself when the table does not know it
    resource: str
    params: dict[str, str]
    reason: str = ""
    query: str = ""
    body: bytes = b""
    secrets_stripped: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def audited(self) -> bool:
        """Reads are not audited; every other request is, allowed or refused."""
        return self.right is not Right.READ

    @property
    def target_id(self) -> str:
        return ",".join(self.params.values())


def decide(has_perm: Callable[[str], bool], method: str, path: str, query: str = "", body: bytes = b"") -> Decision:
    found = match(method, path)
    route = found.route
    if route is None:
        right, permission, template, resource = Right.ADMINISTER, ADMINISTER_PREFECT, path, "unknown"
    else:
        right, permission, template, resource = route.right, route.permission, route.template, route.resource
    extra: dict[str, str] = {}
    if permission == BY_TARGET_STATE:
        state_type = _target_state_type(body)
        extra["state_type"] = state_type
        permission = TARGET_STATE_PERMISSIONS.get(state_type, ADMINISTER_PREFECT)
    stripped = False
    if not has_perm(ADMINISTER_PREFECT):
        query, body, stripped = _without_secrets(query, body)
    allowed = has_perm(permission)
    reason = "" if allowed else f"{method} {template} needs the {right} right ({permission}), which your role lacks."
    return Decision(
        allowed=allowed,
        right=right,
        permission=permission,
        method=method,
        route=template,
        resource=resource,
        params=found.params,
        reason=reason,
        query=query,
        body=body,
        secrets_stripped=stripped,
        extra=extra,
    )


def _target_state_type(body: bytes) -> str:
    try:
        state = json.loads(body or b"{}").get("state") or {}
        return str(state.get("type", "")).upper()
    except (ValueError, AttributeError):
        return ""


def _without_secrets(query: str, body: bytes) -> tuple[str, bytes, bool]:
    stripped = False
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key == SECRETS_PARAMETER for key, _ in pairs):
        query = urlencode([(key, value) for key, value in pairs if key != SECRETS_PARAMETER])
        stripped = True
    if SECRETS_PARAMETER.encode() in body:
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get(SECRETS_PARAMETER):
            document[SECRETS_PARAMETER] = False
            body = json.dumps(document).encode()
            stripped = True
    return query, body, stripped
