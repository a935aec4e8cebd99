"""`manage.py run_stack` (what `make run` calls): see `controlplane.devstack.stack`."""

from __future__ import annotations

from controlplane.devstack.stack import RunStackCommand


class Command(RunStackCommand):
    pass
