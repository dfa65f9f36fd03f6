"""Prune with a recording stand-in client: what is deleted, left, and kept on failure."""

from __future__ import annotations

from typing import cast

from gitops_operator.api import PRUNE_ANNOTATION
from gitops_operator.errors import ApiError
from gitops_operator.kube import KubeClient
from gitops_operator.manager import Action, ResourceManager
from gitops_operator.objects import KubeObject, ObjectRef

KEEP = ObjectRef("", "ConfigMap", "ns", "keep")
GONE = ObjectRef("", "ConfigMap", "ns", "gone")
LOCKED = ObjectRef("", "ConfigMap", "ns", "locked")
OLD = ObjectRef("apps", "Deployment", "ns", "old")


class Cluster:
    def __init__(self) -> None:
        self.deleted: list[ObjectRef] = []

    def get(self, version: str, ref: ObjectRef) -> KubeObject | None:
        if ref == GONE:
            return None
        annotations = {PRUNE_ANNOTATION: "disabled"} if ref == KEEP else {}
        return {"metadata": {"name": ref.name, "annotations": annotations}}

    def delete(self, version: str, ref: ObjectRef) -> bool:
        if ref == LOCKED:
            raise ApiError("configmaps is forbidden", code=403, api_reason="Forbidden")
        self.deleted.append(ref)
        return True


def test_prune_deletes_stale_objects_and_keeps_what_could_not_be_deleted():
    cluster = Cluster()
    manager = ResourceManager(cast(KubeClient, cluster), concurrency=2)

    result = manager.delete_all({KEEP: "v1", GONE: "v1", LOCKED: "v1", OLD: "apps/v1"})

    assert cluster.deleted == [OLD]
    actions = {e.ref: e.action for e in result.changes.entries}
    assert actions == {OLD: Action.DELETED, GONE: Action.DELETED, KEEP: Action.SKIPPED}
    assert result.survivors == {LOCKED: "v1"}
    assert result.messages() == ["ConfigMap/ns/locked: configmaps is forbidden"]


class WavedCluster:
    """Objects named ``<wave>-<n>``, each annotated with its wave; one opts out the Argo CD
    way (``Prune=false``)."""

    def __init__(self) -> None:
        self.deleted: list[ObjectRef] = []

    def get(self, version: str, ref: ObjectRef) -> KubeObject | None:
        annotations = {"argocd.argoproj.io/sync-wave": ref.name.split("_")[0]}
        if ref.name.endswith("kept"):
            annotations["argocd.argoproj.io/sync-options"] = "Prune=false"
        return {"metadata": {"name": ref.name, "annotations": annotations}}

    def delete(self, version: str, ref: ObjectRef) -> bool:
        self.deleted.append(ref)
        return True


def test_prune_deletes_the_highest_wave_first_and_leaves_prune_false():
    cluster = WavedCluster()
    manager = ResourceManager(cast(KubeClient, cluster), concurrency=4)
    names = ["-1_a", "-1_b", "0_a", "3_a", "3_b", "3_kept", "10_a"]
    stale = {ObjectRef("", "ConfigMap", "ns", n): "v1" for n in names}

    result = manager.delete_all(stale)

    waves = [int(ref.name.split("_")[0]) for ref in cluster.deleted]
    assert waves == sorted(waves, reverse=True) == [10, 3, 3, 0, -1, -1]
    skipped = [e.ref.name for e in result.changes.entries if e.action is Action.SKIPPED]
    assert skipped == ["3_kept"]
