"""Mirror rows loaded with less of the ORM's per-row Python work, with the same results.

What it buys: a 100-run GraphQL page (~400 instances with flows, deployments and work pools) spent about half of its
row-reading time in `Model.__init__`; loading straight into `__dict__` took the page from 0.60x to 0.47x Prefect's own
filter at p50 together with the other fast paths (bench/RESULTS.md, "GraphQL").
What it depends on: how Django marks a loaded instance (`_state`, `__dict__[attname]`, deferred = absent), the
descriptor classes of plain fields, and the pre_init/post_init signals — Django pinned in requirements/constraints.txt;
tests/controlplane/db/test_fast_loading.py compares its instances with Django's own.
How to turn it off: `ORM_FAST_LOADING=false` (Django's own `from_db`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


class FastLoadingModel(models.Model):
    """A model whose rows load straight into the instance's `__dict__`.

    A page of 100 runs with their flows, deployments and work pools is ~400 instances; `Model.__init__` walks every
    field of each through `setattr` and sends two signals — about half the time of reading the page. `from_db` here
    puts each loaded column where `__init__` would (`__dict__[attname]`) and leaves out a column not loaded
    (`only()`/`defer()`), which is how Django marks it deferred. It takes Django's own path whenever the difference
    could be observed: a `pre_init`/`post_init` receiver, or a field whose descriptor does work on assignment.
    """

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Sequence[str], values: Sequence[Any]) -> Any:
        if not settings.ORM_FAST_LOADING or not _loads_plainly(cls) or _observed(cls):
            return super().from_db(db, field_names, values)
        new = cls.__new__(cls)
        new.__dict__.update(zip(field_names, values, strict=True))
        state = new._state = ModelState()
        state.adding = False
        state.db = db
        return new


@functools.cache
def _loads_plainly(model: type[models.Model]) -> bool:
    """True when assigning any concrete field of `model` only stores the value in the instance's `__dict__`."""
    return all(
        type(inspect.getattr_static(model, field.attname, None)) in _PLAIN_DESCRIPTORS
        for field in model._meta.concrete_fields
    )


def _observed(model: type[models.Model]) -> bool:
    """A `pre_init`/`post_init` receiver would see this model's instances (no receivers at all: the usual case)."""
    if not pre_init.receivers and not post_init.receivers:
        return False
    return pre_init.has_listeners(model) or post_init.has_listeners(model)
