from tests.live_site import browser, live_site  # noqa: F401 (fixtures of the browser tests)
