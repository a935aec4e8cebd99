"""A refused request is logged as one line (it is in the audit log already), never as a traceback."""

from __future__ import annotations

import logging

import pytest

from tests.graphql_client import client_for

pytestmark = pytest.mark.django_db


def test_a_403_is_logged_as_one_line_without_a_traceback(caplog):
    viewer = client_for("viewer")
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = viewer.post("/admin/workflows/orchestrationconfig/1/change/", {"retry_attempts": 9})
    assert response.status_code == 403
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /admin/workflows/orchestrationconfig/1/change/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_server_error_still_carries_its_traceback():
    from controlplane.request_logging import ExpectedFailuresAsOneLine

    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "Internal Server Error", (),
                                   sys.exc_info())  # fmt: skip
    record.status_code = 500
    assert ExpectedFailuresAsOneLine().filter(record) and record.exc_info is not None
