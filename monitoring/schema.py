"""GraphQL part of the monitoring app.

Empty for now: `systemHealth`, `metrics(range)`, `alerts`, `thresholds` and the alert/threshold mutations belong to
the monitoring issue. When it lands, define `MonitoringQuery` / `MonitoringMutation` here and list them below; the
root schema (`controlplane/schema.py`) merges whatever these tuples hold.
"""

from __future__ import annotations

QUERY_TYPES: tuple[type, ...] = ()
MUTATION_TYPES: tuple[type, ...] = ()
