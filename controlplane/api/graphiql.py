"""GraphiQL served from our own static files: strawberry's page loads React, GraphiQL and their CSS from unpkg.com,
so offline (or behind a strict proxy) it stays on "Loading…". The same files, vendored from the npm registry at the
versions strawberry's template names (controlplane/static/graphiql/, licences in LICENSES.txt), replace each URL.
The template's `integrity` hashes are kept: the browser checks that the local copy is byte for byte the published one.
Except for two files: graphiql.min.js and .css end with a source-map comment naming a .map file npm ships but we do
not (6 MB), and the production static storage (whitenoise's manifest storage) fails `collectstatic` on a missing map
and would rewrite the comment anyway (new bytes, so a failed integrity check). Those two are vendored without their
last line (`STRIPPED_SOURCE_MAPS`), and the page loads them without an `integrity` attribute; the test checks that
the file plus that line is the published file (strawberry's hash).

A strawberry upgrade that changes a version or adds an asset leaves an unpkg URL in the page;
tests/controlplane/api/test_graphiql_offline.py fails then, and the new file is vendored the same way.
"""

from __future__ import annotations

import re

from django.templatetags.static import static

UNPKG = "https://unpkg.com/"
LOCAL_ASSETS = {
    "react@18.2.0/umd/react.production.min.js": "graphiql/react.production.min.js",
    "react-dom@18.2.0/umd/react-dom.production.min.js": "graphiql/react-dom.production.min.js",
    "js-cookie@3.0.5/dist/js.cookie.min.js": "graphiql/js.cookie.min.js",
    "graphiql@3.8.3/graphiql.min.css": "graphiql/graphiql.min.css",
    "@graphiql/plugin-explorer@1.0.2/dist/style.css": "graphiql/plugin-explorer.css",
    "graphiql@3.8.3/graphiql.min.js": "graphiql/graphiql.min.js",
    "@graphiql/plugin-explorer@1.0.2/dist/index.umd.js": "graphiql/plugin-explorer.umd.js",
}

# Vendored without this last line (see above): {local path: the line removed}.
STRIPPED_SOURCE_MAPS = {
    "graphiql/graphiql.min.js": "\n//# sourceMappingURL=graphiql.min.js.map",
    "graphiql/graphiql.min.css": "\n/*# sourceMappingURL=graphiql.min.css.map*/",
}


def with_local_assets(html: str) -> str:
    """Strawberry's GraphiQL page with every unpkg URL pointing at our static copy."""
    for published, local in LOCAL_ASSETS.items():
        url = f'"{UNPKG}{published}"'
        if local in STRIPPED_SOURCE_MAPS:
            html = re.sub(re.escape(url) + r'\s+integrity="[^"]*"', url, html)
        html = html.replace(url, f'"{static(local)}"')
    return html.replace("<title>Strawberry GraphiQL</title>", "<title>GraphiQL · control plane</title>")
