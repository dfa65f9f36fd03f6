"""How ``read_many`` chooses between one LIST and a GET per object (pure logic: the
client is a recording stand-in; the integration tests read a real API server)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from gitops_operator.errors import ApiError, NotFoundError
from gitops_operator.kube import KubeClient
from gitops_operator.live import LIST_THRESHOLD, read_many
from gitops_operator.objects import KubeObject, ObjectRef


class Recorder:
    def __init__(self, existing: set[str], *, list_error: ApiError | None = None) -> None:
        self.existing = existing
        self.list_error = list_error
        self.calls: list[tuple[str, str]] = []

    def get(self, version: str, ref: ObjectRef) -> KubeObject | None:
        self.calls.append(("get", ref.name))
        return _obj(ref.name) if ref.name in self.existing else None

    def list(self, version: str, kind: str, namespace: str | None = None) -> list[KubeObject]:
        self.calls.append(("list", f"{kind}/{namespace}"))
        if self.list_error is not None:
            raise self.list_error
        return [_obj(name) for name in sorted(self.existing)]


def _obj(name: str) -> KubeObject:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}


def _refs(n: int, namespace: str = "ns") -> list[tuple[ObjectRef, str]]:
    return [(ObjectRef("", "ConfigMap", namespace, f"c{i}"), "v1") for i in range(n)]


def _read(kube: Recorder, items: list[tuple[ObjectRef, str]]) -> dict[ObjectRef, Any]:
    return read_many(cast(KubeClient, kube), items, lambda jobs: [job() for job in jobs])


def test_a_large_group_is_one_list_and_absent_objects_read_as_none():
    kube = Recorder({"c0", "c5", "unrelated"})
    found = _read(kube, _refs(LIST_THRESHOLD))
    assert kube.calls == [("list", "ConfigMap/ns")]
    assert found[ObjectRef("", "ConfigMap", "ns", "c0")] == _obj("c0")
    assert found[ObjectRef("", "ConfigMap", "ns", "c1")] is None
    assert len(found) == LIST_THRESHOLD, "objects the set does not name are not returned"


def test_a_small_group_is_read_with_one_get_each():
    kube = Recorder({"c0"})
    found = _read(kube, _refs(LIST_THRESHOLD - 1))
    assert [c for c, _ in kube.calls] == ["get"] * (LIST_THRESHOLD - 1)
    assert found[ObjectRef("", "ConfigMap", "ns", "c0")] == _obj("c0")


def test_groups_are_per_namespace():
    kube = Recorder(set())
    _read(kube, _refs(LIST_THRESHOLD, "a") + _refs(2, "b"))
    assert kube.calls.count(("list", "ConfigMap/a")) == 1
    assert [c for c, _ in kube.calls].count("get") == 2


def test_a_refused_list_falls_back_to_gets():
    kube = Recorder({"c1"}, list_error=ApiError("forbidden", code=403, api_reason="Forbidden"))
    found = _read(kube, _refs(LIST_THRESHOLD))
    assert [c for c, _ in kube.calls].count("get") == LIST_THRESHOLD
    assert found[ObjectRef("", "ConfigMap", "ns", "c1")] == _obj("c1")


@pytest.mark.parametrize(
    "error",
    [
        ApiError("unavailable", code=503, api_reason="ServiceUnavailable"),
        NotFoundError("no such kind"),
    ],
)
def test_a_transient_or_unknown_kind_error_is_returned_for_every_object(error):
    kube = Recorder(set(), list_error=error)
    found = _read(kube, _refs(LIST_THRESHOLD))
    assert kube.calls == [("list", "ConfigMap/ns")]
    assert all(value is error for value in found.values())
