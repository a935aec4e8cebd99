"""Rows loaded by `FastLoadingModel.from_db` are the same instances Django's own path builds, in every way the rest
of the code can observe: values, deferred columns, joined relations, saving, refreshing, signals."""

from __future__ import annotations

from typing import Any

import pytest
from django.db.models import Model
from django.db.models.signals import post_init

from controlplane.db.fast_loading import FastLoadingModel
from tests.factories import DeploymentFactory, FlowRunFactory
from workflows.models import FlowRun

pytestmark = pytest.mark.django_db


def _fields(instance: Model) -> dict[str, Any]:
    return {key: value for key, value in vars(instance).items() if key != "_state"}


@pytest.fixture
def run() -> FlowRun:
    return FlowRunFactory(deployment=DeploymentFactory(), tags=["a", "b"], parameters={"n": 1})


@pytest.fixture
def djangos_own_path(monkeypatch):
    """Build instances with `Model.from_db` instead, for comparison."""

    def load(loader: Any) -> Any:
        monkeypatch.setattr(FastLoadingModel, "from_db", classmethod(Model.from_db.__func__))
        try:
            return loader()
        finally:
            monkeypatch.undo()

    return load


def test_the_model_really_skips_init(run, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("Model.__init__ ran")

    loaded = FlowRun.objects.get(pk=run.pk)  # before the patch: Django's own queryset setup may build instances
    monkeypatch.setattr(FlowRun, "__init__", refuse)
    assert FlowRun.objects.get(pk=run.pk).name == loaded.name


def test_a_loaded_row_equals_djangos_own_instance(run, djangos_own_path):
    ours = FlowRun.objects.select_related("flow", "deployment__work_pool").get(pk=run.pk)
    theirs = djangos_own_path(lambda: FlowRun.objects.select_related("flow", "deployment__work_pool").get(pk=run.pk))
    assert _fields(ours) == _fields(theirs)
    assert (ours._state.adding, ours._state.db) == (theirs._state.adding, theirs._state.db) == (False, "default")
    assert _fields(ours.flow) == _fields(theirs.flow)
    assert _fields(ours.deployment) == _fields(theirs.deployment)
    assert ours.deployment.work_pool == theirs.deployment.work_pool


def test_columns_not_loaded_stay_deferred_and_load_on_access(run, django_assert_num_queries):
    loaded = FlowRun.objects.only("id", "name").get(pk=run.pk)
    assert loaded.get_deferred_fields() >= {"tags", "parameters", "state_type"}
    with django_assert_num_queries(1):
        assert loaded.tags == ["a", "b"]
    assert "tags" not in loaded.get_deferred_fields()


def test_a_loaded_row_saves_as_an_update_and_refreshes(run):
    loaded = FlowRun.objects.get(pk=run.pk)
    loaded.name = "renamed"
    loaded.save(update_fields=["name"])
    assert FlowRun.objects.count() == 1
    FlowRun.objects.filter(pk=run.pk).update(state_name="Later")
    loaded.refresh_from_db()
    assert (loaded.name, loaded.state_name) == ("renamed", "Later")


def test_the_related_object_is_read_from_the_loaded_foreign_key(run, django_assert_num_queries):
    loaded = FlowRun.objects.get(pk=run.pk)
    with django_assert_num_queries(1):
        assert loaded.flow.name == run.flow.name
    with django_assert_num_queries(0):
        assert loaded.flow.pk == loaded.flow_id == run.flow_id


def test_a_post_init_receiver_still_sees_every_instance(run):
    seen = []

    def receiver(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(receiver, sender=FlowRun)
    try:
        FlowRun.objects.get(pk=run.pk)
    finally:
        post_init.disconnect(receiver, sender=FlowRun)
    assert seen == [run.pk]
