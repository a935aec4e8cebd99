"""GraphiQL in a real browser (Debian's chromium, headless): it loads and runs a query with every request going to
our own server, so it works offline (it used to stay on "Loading…" without unpkg.com)."""

from __future__ import annotations

from tests.live_site import needs_chromium, save_screenshot, signed_in


@needs_chromium
def test_graphiql_loads_and_runs_a_query_without_leaving_our_server(browser, live_site):
    page = signed_in(browser, live_site, "viewer", 1280)
    outside: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(live_site.url) else outside.append(request.url))
    try:
        page.goto(f"{live_site.url}/graphql/")
        page.locator(".graphiql-editor").first.wait_for()
        page.wait_for_function("typeof window.GraphiQL === 'function' && typeof window.React === 'object'")
        answer = page.evaluate(
            """async () => (await fetch("/graphql/", {method: "POST", credentials: "same-origin",
                headers: {"content-type": "application/json", "X-CSRFToken": Cookies.get("csrftoken")},
                body: JSON.stringify({query: "{ me { username } }"})})).json()"""
        )
        assert answer == {"data": {"me": {"username": "dash-viewer"}}}
        assert outside == []
        save_screenshot(page, "graphiql-1280", full_page=False)
    finally:
        page.context.close()
