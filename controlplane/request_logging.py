"""Expected failures are logged as one line, not a traceback: a refused request (403) is in the audit log already,
and a database outage (503, controlplane/db/outage.py) logs its own one-line reason."""

from __future__ import annotations

import logging

ONE_LINE_STATUSES = frozenset({403, 503})


class ExpectedFailuresAsOneLine(logging.Filter):
    """On the `django.request` logger: drop the traceback Django attaches to a 403 or a 503 response."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) in ONE_LINE_STATUSES:
            record.exc_info = None
            record.exc_text = None
        return True
