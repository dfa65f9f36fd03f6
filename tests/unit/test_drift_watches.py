"""Watch-driven drift, its pure parts: which kinds are watched as inventories change,
which events may be drift, and how wake-ups are coalesced."""

from __future__ import annotations

import time
from typing import Any, cast

from prometheus_client import REGISTRY

from gitops_operator.config import Settings
from gitops_operator.drift_watches import (
    Debouncer,
    DriftWatches,
    Index,
    caused_elsewhere,
    inventory_of,
    object_id,
)
from gitops_operator.errors import ApiError
from gitops_operator.objects import ObjectRef

A, B = ("team", "a"), ("team", "b")
DEPLOYMENT = ("apps/v1", "Deployment")
CONFIG_MAP = ("v1", "ConfigMap")


def status(*refs: tuple[ObjectRef, str]) -> dict:
    return {"inventory": {"entries": [{"id": r.id, "v": v} for r, v in refs]}}


def web(namespace: str = "team") -> tuple[ObjectRef, str]:
    return ObjectRef("apps", "Deployment", namespace, "web"), "apps/v1"


def cm(name: str) -> tuple[ObjectRef, str]:
    return ObjectRef("", "ConfigMap", "team", name), "v1"


def test_the_event_of_an_object_names_its_inventory_entry():
    meta = {"namespace": "team", "name": "web"}
    assert object_id("apps", "Deployment", meta) == web()[0].id
    cluster_scoped = ObjectRef("rbac.authorization.k8s.io", "ClusterRole", "", "reader")
    assert object_id(cluster_scoped.group, "ClusterRole", {"name": "reader"}) == cluster_scoped.id


def test_inventory_of_keeps_the_kind_of_each_entry_and_skips_what_is_malformed():
    found = inventory_of(status(web(), cm("x")))
    assert found == {web()[0].id: DEPLOYMENT, cm("x")[0].id: CONFIG_MAP}
    broken = {"inventory": {"entries": [{"id": "no-underscores", "v": "v1"}, "x", {"v": "v1"}]}}
    assert inventory_of(broken) == {}
    assert inventory_of(None) == inventory_of({}) == {}


def test_kinds_come_into_use_and_go_out_of_use_with_the_inventories():
    index = Index()
    index.update(A, inventory_of(status(web(), cm("x"), cm("y"))))
    index.update(B, inventory_of(status(cm("z"))))
    assert index.kinds == {DEPLOYMENT: 1, CONFIG_MAP: 3}
    assert index.objects[cm("z")[0].id] == B
    index.update(A, inventory_of(status(cm("x"))))  # the Deployment left the repository
    assert index.kinds == {CONFIG_MAP: 2}
    assert web()[0].id not in index.objects
    index.update(A, {})  # A is gone
    index.update(B, inventory_of(status(cm("z"))))  # unchanged: counted once
    assert index.kinds == {CONFIG_MAP: 1}
    index.update(B, {})
    assert index.kinds == {} and index.objects == {} and index.by_app == {}


def test_an_object_two_applications_claim_belongs_to_the_last_one_and_is_counted_once():
    index = Index()
    index.update(A, inventory_of(status(cm("shared"))))
    index.update(B, inventory_of(status(cm("shared"))))
    assert index.objects[cm("shared")[0].id] == B
    assert index.kinds == {CONFIG_MAP: 1}
    index.update(A, {})  # A letting go does not take it from B
    assert index.objects[cm("shared")[0].id] == B
    assert index.kinds == {CONFIG_MAP: 1}


def test_a_new_api_version_of_the_same_object_moves_it_to_that_kind():
    index = Index()
    index.update(A, {web()[0].id: ("apps/v1beta2", "Deployment")})
    index.update(A, {web()[0].id: DEPLOYMENT})
    assert index.kinds == {DEPLOYMENT: 1}


def entry(manager: str, time: str, subresource: str | None = None) -> dict:
    found = {"manager": manager, "operation": "Update", "time": time}
    return {**found, "subresource": subresource} if subresource else found


def test_only_another_managers_write_or_a_deletion_may_be_drift():
    ours = entry("gitops-operator", "2026-01-01T00:00:05Z")
    edit = entry("kubectl-edit", "2026-01-01T00:00:09Z")
    status_write = entry("kube-controller-manager", "2026-01-01T00:00:09Z", "status")
    old_edit = entry("kubectl-edit", "2026-01-01T00:00:01Z")
    assert caused_elsewhere("MODIFIED", {"managedFields": [ours, edit]}, "gitops-operator")
    assert not caused_elsewhere("MODIFIED", {"managedFields": [old_edit, ours]}, "gitops-operator")
    assert not caused_elsewhere(
        "MODIFIED", {"managedFields": [ours, status_write]}, "gitops-operator"
    ), "a controller's status write is no drift"
    assert not caused_elsewhere("ADDED", {"managedFields": [ours]}, "gitops-operator")
    assert caused_elsewhere("ADDED", {"managedFields": [ours, edit]}, "gitops-operator")
    assert caused_elsewhere("DELETED", {"managedFields": [ours]}, "gitops-operator")
    deleting = {"managedFields": [ours], "deletionTimestamp": "2026-01-01T00:00:10Z"}
    assert caused_elsewhere("MODIFIED", deleting, "gitops-operator"), "held by a finalizer"
    assert caused_elsewhere("MODIFIED", {}, "gitops-operator"), "nothing to tell: check"
    assert not caused_elsewhere("BOOKMARK", {}, "gitops-operator")
    same_second = entry("kubectl-edit", ours["time"])
    assert caused_elsewhere("MODIFIED", {"managedFields": [ours, same_second]}, "gitops-operator")


def test_wake_ups_of_one_application_are_coalesced_within_the_delay():
    debouncer = Debouncer(0.3)
    assert debouncer.next_due() is None
    assert debouncer.add(A, 10.0)
    assert not debouncer.add(A, 10.1), "already pending: one wake-up"
    assert debouncer.add(B, 10.2)
    assert debouncer.next_due() == 10.3
    assert debouncer.pop_due(10.29) == []
    assert debouncer.pop_due(10.3) == [A]
    assert debouncer.pop_due(10.6) == [B]
    assert debouncer.pop_due(11.0) == []
    assert debouncer.add(A, 11.0), "a later event wakes it again"


def test_wake_ups_of_one_application_are_spaced_and_others_are_not_held_back():
    debouncer = Debouncer(0.3, spacing=2.0)
    debouncer.add(A, 10.0)
    assert debouncer.pop_due(10.3) == [A]
    debouncer.add(A, 10.5)  # rewritten again at once (a controller, a selfHeal fight)
    debouncer.add(B, 10.5)
    assert debouncer.pop_due(10.8) == [B], "another Application is not held back"
    assert debouncer.next_due() == 12.3
    assert debouncer.pop_due(12.29) == []
    assert debouncer.pop_due(12.3) == [A]
    debouncer.add(A, 20.0)  # long after: only the delay
    assert debouncer.pop_due(20.3) == [A]


def test_watch_driven_drift_is_on_by_default_and_can_be_turned_off():
    assert Settings.from_env({}).drift_watches is True
    assert Settings.from_env({"GITOPS_DRIFT_WATCHES": "false"}).drift_watches is False
    assert Settings.from_env({"GITOPS_DRIFT_WATCHES": "0"}).drift_watches is False


class FakeKube:
    """Stands for ``KubeClient.watch_metadata``: refuses ConfigMaps, streams Deployments."""

    field_manager = "gitops-operator"

    def __init__(self, events: list[dict]) -> None:
        self.events = events

    def watch_metadata(self, api_version: str, kind: str, since: str, timeout: int, full=False):
        if kind == "ConfigMap":
            raise ApiError("watch ConfigMap: forbidden", code=403, api_reason="Forbidden")
        yield from self.events
        time.sleep(0.05)


def test_a_refused_watch_is_counted_and_logged_and_the_others_still_wake(caplog):
    edit = entry("kubectl-edit", "2026-01-01T00:00:09Z")
    meta = {"namespace": "team", "name": "web", "resourceVersion": "7", "managedFields": [edit]}
    events = [{"type": "MODIFIED", "object": {"metadata": meta}}] * 3
    woken: list[tuple[str, str]] = []
    watches = DriftWatches(cast(Any, FakeKube(events)), woken.append, debounce=0.05)
    refused = REGISTRY.get_sample_value(
        "gitops_drift_watch_failures_total", {"kind": "v1/ConfigMap", "reason": "forbidden"}
    )
    watches.track(A, status(web(), cm("x")))
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not woken:
            time.sleep(0.02)
        time.sleep(0.2)
    finally:
        watches.stop_all()
    assert woken[:1] == [A], "the Deployment's edit woke its Application"
    assert len(woken) < len(events) * 20, "coalesced"
    after = REGISTRY.get_sample_value(
        "gitops_drift_watch_failures_total", {"kind": "v1/ConfigMap", "reason": "forbidden"}
    )
    assert (after or 0) == (refused or 0) + 1
    assert "watch of v1 ConfigMap refused" in caplog.text
