"""A refused request (403) is an expected outcome, already in the audit log: logged as one line, not a traceback."""

from __future__ import annotations

import logging


class RefusalsAsOneLine(logging.Filter):
    """On the `django.request` logger: drop the traceback Django attaches to a `PermissionDenied` (status 403)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
