"""GraphiQL works offline: the page names no external URL, and every asset it loads is served by us, byte for byte
the published file (its `integrity` hash still matches)."""

from __future__ import annotations

import base64
import hashlib
import re

GRAPHQL_URL = "/graphql/"
ASSET = re.compile(r'(?:src|href)="([^"]+)"(?:\s+integrity="([^"]+)")?')


def _graphiql_page(client) -> str:
    response = client.get(GRAPHQL_URL, headers={"accept": "text/html"})
    assert response.status_code == 200
    return response.content.decode()


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_graphiql_page_references_no_external_url(viewer_client):
    page = _graphiql_page(viewer_client)
    loaded = [url for url, _ in ASSET.findall(page)]
    assert len(loaded) >= 7  # react, react-dom, js-cookie, graphiql js + css, explorer js + css
    assert [url for url in loaded if "//" in url and not url.startswith("data:")] == []
    assert "unpkg.com" not in page


def test_graphiql_assets_are_served_locally_and_match_their_integrity_hashes(viewer_client):
    page = _graphiql_page(viewer_client)
    assets = [(url, integrity) for url, integrity in ASSET.findall(page) if url.startswith("/static/")]
    assert len(assets) == 7
    assert all(integrity for _, integrity in assets)
    for url, integrity in assets:
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        body = _body(response)
        algorithm, expected = integrity.split("-", 1)
        assert base64.b64encode(hashlib.new(algorithm, body).digest()).decode() == expected, url
