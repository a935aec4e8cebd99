from tests.live_site import live_site  # noqa: F401 (a fixture of the browser tests)
