"""GraphiQL works offline: the page names no external URL, and every asset it loads is served by us, byte for byte
the file strawberry's page names on unpkg (its `integrity` hash matches; for the two vendored without their
source-map comment, once that line is put back). And the production static build (manifest storage) accepts them."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import override_settings
from strawberry.http.ides import get_graphql_ide_html

from controlplane.api.graphiql import LOCAL_ASSETS, STRIPPED_SOURCE_MAPS, UNPKG

GRAPHQL_URL = "/graphql/"
ASSET = re.compile(r'(?:src|href)="([^"]+)"(?:\s+integrity="([^"]+)")?')


def _graphiql_page(client) -> str:
    response = client.get(GRAPHQL_URL, headers={"accept": "text/html"})
    assert response.status_code == 200
    return response.content.decode()


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _matches(integrity: str, body: bytes) -> bool:
    algorithm, expected = integrity.split("-", 1)
    return base64.b64encode(hashlib.new(algorithm, body).digest()).decode() == expected


def test_graphiql_page_references_no_external_url(viewer_client):
    page = _graphiql_page(viewer_client)
    loaded = [url for url, _ in ASSET.findall(page)]
    assert len(loaded) >= 7  # react, react-dom, js-cookie, graphiql js + css, explorer js + css
    assert [url for url in loaded if "//" in url and not url.startswith("data:")] == []
    assert "unpkg.com" not in page


def test_graphiql_assets_are_served_locally_and_are_the_published_files(viewer_client):
    published = dict(ASSET.findall(get_graphql_ide_html()))  # strawberry's page: unpkg URL → integrity
    page = dict(ASSET.findall(_graphiql_page(viewer_client)))
    assert len([url for url in page if url.startswith("/static/")]) == len(LOCAL_ASSETS) == 7
    for unpkg_path, local in LOCAL_ASSETS.items():
        url, integrity = f"/static/{local}", published[f"{UNPKG}{unpkg_path}"]
        response = viewer_client.get(url)
        assert response.status_code == 200, url
        body = _body(response)
        if local in STRIPPED_SOURCE_MAPS:
            assert page[url] == ""  # loaded without integrity: the published bytes end with the comment we removed
            assert _matches(integrity, body + STRIPPED_SOURCE_MAPS[local].encode()), url
        else:
            assert page[url] == integrity
            assert _matches(integrity, body), url


def test_the_production_static_build_accepts_the_vendored_files(tmp_path):
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=storages):
        call_command("collectstatic", interactive=False, verbosity=0)
    assert (tmp_path / "staticfiles.json").exists()  # the manifest storage did the build
    for local in LOCAL_ASSETS.values():  # the build must not change the bytes an integrity hash covers
        assert (tmp_path / local).read_bytes() == Path(finders.find(local)).read_bytes(), local
