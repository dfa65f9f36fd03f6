"""When the steady passes of many Applications share one LIST (pure logic: the client is
a recording stand-in; the integration tests read a real API server)."""

from __future__ import annotations

from typing import cast

from gitops_operator.errors import ApiError
from gitops_operator.kube import KubeClient
from gitops_operator.objects import KubeObject, ObjectRef
from gitops_operator.shared_lists import LIST_THRESHOLD, SharedLists

GROUP = ("v1", "ConfigMap", "ns")


class Recorder:
    def __init__(self, names: list[str], *, error: ApiError | None = None) -> None:
        self.names = names
        self.error = error
        self.lists = 0

    def list(self, version: str, kind: str, namespace: str | None = None) -> list[KubeObject]:
        self.lists += 1
        if self.error is not None:
            raise self.error
        return [_obj(name) for name in self.names]


def _obj(name: str, version: str = "1") -> KubeObject:
    return {"metadata": {"name": name, "resourceVersion": version}}


def _ref(i: int) -> ObjectRef:
    return ObjectRef("", "ConfigMap", "ns", f"c{i}")


def _trust_all(ref: ObjectRef, obj: KubeObject) -> bool:
    return True


def _ask(shared: SharedLists, kube: Recorder, refs: list[ObjectRef], max_age: float = 30.0):
    return shared.lookup(cast(KubeClient, kube), GROUP, refs, max_age, _trust_all)


def test_few_objects_asked_for_are_left_to_gets():
    kube, shared = Recorder(["c0"]), SharedLists()
    for i in range(LIST_THRESHOLD - 1):
        assert _ask(shared, kube, [_ref(i)]) == {}
    assert kube.lists == 0


def test_once_many_are_asked_for_one_list_serves_every_application_while_recent():
    names = [f"c{i}" for i in range(LIST_THRESHOLD + 5)]
    kube, shared = Recorder(names), SharedLists()
    for i in range(LIST_THRESHOLD - 1):
        _ask(shared, kube, [_ref(i)])
    assert _ask(shared, kube, [_ref(LIST_THRESHOLD - 1)]) == {
        _ref(LIST_THRESHOLD - 1): _obj(f"c{LIST_THRESHOLD - 1}")
    }
    for i in range(LIST_THRESHOLD, LIST_THRESHOLD + 5):
        assert _ask(shared, kube, [_ref(i)]) == {_ref(i): _obj(f"c{i}")}
    assert kube.lists == 1
    _ask(shared, kube, [_ref(0)], max_age=0.0)  # the caller allows no older list
    assert kube.lists == 2


def test_an_object_the_caller_does_not_trust_or_the_list_lacks_is_not_served():
    kube, shared = Recorder([f"c{i}" for i in range(LIST_THRESHOLD)]), SharedLists()
    refs = [_ref(i) for i in range(LIST_THRESHOLD)] + [_ref(99)]
    found = shared.lookup(
        cast(KubeClient, kube), GROUP, refs, 30.0, lambda ref, obj: ref.name != "c3"
    )
    assert _ref(3) not in found, "an untrusted object is read with a GET by the caller"
    assert _ref(99) not in found, "an object the list lacks is read with a GET"
    assert len(found) == LIST_THRESHOLD - 1


def test_a_refused_list_is_not_tried_again():
    kube = Recorder([], error=ApiError("forbidden", code=403, api_reason="Forbidden"))
    shared = SharedLists()
    refs = [_ref(i) for i in range(LIST_THRESHOLD)]
    assert _ask(shared, kube, refs) == {}
    assert _ask(shared, kube, refs) == {}
    assert kube.lists == 1
