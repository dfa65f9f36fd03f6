"""What the plan reads before its dry-runs (pure logic: the client is a recording
stand-in; tests/integration/test_known_in_sync.py counts requests at a real API server)."""

from __future__ import annotations

import copy
from typing import Any, cast

from gitops_operator.kube import KubeClient
from gitops_operator.manager.apply import apply_all
from gitops_operator.manager.changeset import Action
from gitops_operator.manager.workers import Workers
from gitops_operator.objects import KubeObject, Manifest, ObjectRef


class Recorder:
    """An API server of ConfigMaps: a dry-run that creates answers without a
    resourceVersion, one that finds the object with its own."""

    def __init__(self, existing: dict[str, KubeObject]) -> None:
        self.objects = existing
        self.calls: list[tuple[str, str]] = []

    def get(self, version: str, ref: ObjectRef) -> KubeObject | None:
        self.calls.append(("get", ref.name))
        found = self.objects.get(ref.name)
        return copy.deepcopy(found) if found else None

    def apply(self, obj: KubeObject, *, dry_run: bool = False) -> KubeObject:
        name = obj["metadata"]["name"]
        self.calls.append(("dry-run" if dry_run else "apply", name))
        before = self.objects.get(name)
        version = str(before["metadata"]["resourceVersion"]) if before else ""
        result = copy.deepcopy(obj)
        result["metadata"]["resourceVersion"] = version if dry_run else f"{version}1"
        if not dry_run:
            self.objects[name] = copy.deepcopy(result)
        return result


def _cm(name: str, value: str, version: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if version is not None:
        meta["resourceVersion"] = version
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": value}}


def _apply(kube: Recorder, manifests: list[Manifest], new: set[ObjectRef]) -> dict[str, Action]:
    workers = Workers(cast(KubeClient, kube), concurrency=2)
    changes = apply_all(workers, manifests, before_write=lambda: None, new=new)
    return {e.ref.name: e.action for e in changes.entries}


def test_an_object_not_in_the_inventory_is_not_read_unless_its_dry_run_finds_it():
    kube = Recorder({"old": _cm("old", "a", version="7")})
    manifests = [Manifest(_cm("fresh", "x"), "f.yaml"), Manifest(_cm("old", "b"), "o.yaml")]
    actions = _apply(kube, manifests, new={m.ref for m in manifests})
    assert ("get", "fresh") not in kube.calls
    assert kube.calls.index(("dry-run", "old")) < kube.calls.index(("get", "old"))
    assert actions == {"fresh": Action.CREATED, "old": Action.CONFIGURED}


def test_an_inventoried_object_is_read_before_its_dry_run():
    kube = Recorder({"old": _cm("old", "a", version="7")})
    actions = _apply(kube, [Manifest(_cm("old", "a"), "o.yaml")], new=set())
    assert kube.calls[:2] == [("get", "old"), ("dry-run", "old")]
    assert actions == {"old": Action.UNCHANGED}
