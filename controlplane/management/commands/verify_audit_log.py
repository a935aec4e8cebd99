"""`manage.py verify_audit_log`: walk the audit hash chain; exit 1 naming the first altered or missing event."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from controlplane.audit.chain import verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's HMAC chain. Prints the event count and the head hash (record it elsewhere)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain()
        if not result.ok:
            self.stderr.write(f"Checked {result.checked} events before the break.")
            raise CommandError(f"Audit log verification FAILED: {result.problem}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Audit log OK: {result.checked} events, chain unbroken."))
        self.stdout.write(f"Head hash: {result.head_hash}")
