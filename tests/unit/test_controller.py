"""The controller's own logic, without a cluster: wake-ups, outcome writing and failure
mapping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from gitops_operator import status_writer
from gitops_operator.api import DependencyRef
from gitops_operator.errors import ApiError, SourceNotReadyError, SourcePendingError
from gitops_operator.objects import ObjectRef
from gitops_operator.reconcilers.outcome import Outcome
from gitops_operator.runtime import track_dependencies, wake_if_asked

REF = ObjectRef("gitops-operator.dev", "Application", "ns", "app")


class FlakyStatusApi:
    """A status endpoint that refuses ``failures`` writes the way an API server that is
    down (or overloaded) does, then accepts them."""

    def __init__(self, failures: int, code: int = 0) -> None:
        self.failures = failures
        self.code = code
        self.written: list[dict[str, Any]] = []

    def patch_status(self, api_version: str, ref: ObjectRef, status: dict[str, Any]) -> None:
        if self.failures:
            self.failures -= 1
            raise ApiError("connection refused", code=self.code, api_reason="")
        self.written.append(status)


class Settings:
    retry_interval = 30.0


class Runtime:
    def __init__(self, kube: FlakyStatusApi) -> None:
        self.kube = kube
        self.settings = Settings()

    async def call(self, fn: Callable[[], Any]) -> Any:
        return fn()


def app_object() -> dict[str, Any]:
    return {
        "kind": "Application",
        "metadata": {"name": "app", "namespace": "ns", "generation": 2},
        "spec": {"sourceRef": {"name": "src"}},
        "status": {"lastAppliedRevision": "old"},
    }


def write(kube: FlakyStatusApi) -> None:
    outcome = Outcome({"lastAppliedRevision": "new"}, [], 60.0)
    asyncio.run(
        status_writer.write_outcome(
            Runtime(kube),
            app_object(),
            REF,
            outcome,
            logging.getLogger("test"),
            retry_every=0.01,
        )
    )


def test_status_write_is_retried_until_the_api_server_answers() -> None:
    kube = FlakyStatusApi(failures=3)
    write(kube)
    assert [s["lastAppliedRevision"] for s in kube.written] == ["new"]


def test_status_write_refused_for_good_is_not_retried() -> None:
    kube = FlakyStatusApi(failures=1, code=422)
    write(kube)
    assert kube.written == []


def test_a_source_still_fetching_is_a_normal_event_and_in_progress() -> None:
    outcome = status_writer.failure_outcome(
        Runtime(FlakyStatusApi(0)),
        app_object(),
        SourcePendingError("waiting for GitRepository ns/src to fetch its first artifact"),
    )
    assert [e.warning for e in outcome.events] == [False]
    ready = next(c for c in outcome.conditions if c.type == "Ready")
    assert ready.status is None


def test_a_failing_source_is_a_warning() -> None:
    outcome = status_writer.failure_outcome(
        Runtime(FlakyStatusApi(0)),
        app_object(),
        SourceNotReadyError("GitRepository ns/src has no artifact: authentication failed"),
    )
    assert [e.warning for e in outcome.events] == [True]
    assert next(c for c in outcome.conditions if c.type == "Ready").status is False


class Waker:
    """What ``_wake_if_asked`` needs of the runtime: what each pass started from, and a
    way to wake a resource."""

    def __init__(self) -> None:
        self.started: dict[tuple[str, tuple[str, str]], tuple[Any, ...]] = {}
        self.woken: list[tuple[str, tuple[str, str]]] = []

    def wake(self, kind: str, key: tuple[str, str]) -> None:
        self.woken.append((kind, key))


def body(generation: int, observed: int, **annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation, "annotations": annotations},
        "status": {"observedGeneration": observed, "lastHandledReconcileAt": "t0"},
    }


KEY = ("ns", "app")
REQUESTED = "gitops-operator.dev/requestedAt"
ROLLBACK_AT = "gitops-operator.dev/rollbackAt"
ROLLBACK_TO = "gitops-operator.dev/rollbackTo"


@pytest.mark.parametrize(
    ("obj", "started", "woken"),
    [
        (body(2, 1), None, True),  # a spec change nobody has started on
        (body(2, 2), None, False),  # the operator's own status write
        (body(2, 1), (2, None, None, None), False),  # the running pass started from it
        (body(2, 2, **{REQUESTED: "t1"}), None, True),  # a new requestedAt
        (body(2, 2, **{REQUESTED: "t0"}), None, False),  # already handled
        (body(2, 2, **{REQUESTED: "t1"}), (2, "t1", None, None), False),
        (body(2, 2, **{ROLLBACK_AT: "t1", ROLLBACK_TO: "abc"}), None, True),  # a rollback
        (body(2, 2, **{ROLLBACK_TO: "abc"}), None, False),  # a target is not a request
        (body(2, 2, **{ROLLBACK_AT: "t1"}), (2, None, None, "t1"), False),  # being handled
    ],
)
def test_wake_ups_come_from_requests_never_from_own_writes(
    obj: dict[str, Any], started: tuple[Any, ...] | None, woken: bool
) -> None:
    waker = Waker()
    if started is not None:
        waker.started[("Application", KEY)] = started
    wake_if_asked(waker, "Application", KEY, obj)
    assert bool(waker.woken) is woken


class Graph:
    """What ``track_dependencies`` needs of the runtime: the reconciler's dependency graph
    and what was ready at the last event."""

    def __init__(self) -> None:
        self.ready: dict[tuple[str, str], tuple[Any, ...] | None] = {}

        class Apps:
            dependencies: dict[DependencyRef, tuple[DependencyRef, ...]] = {}

        self.applications = Apps()


def app_body(name: str, ready: str, *depends_on: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"dependsOn": [{"name": d} for d in depends_on]},
        "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": ready}]},
    }


def test_dependents_are_woken_once_when_their_dependency_turns_ready() -> None:
    graph = Graph()
    track = track_dependencies
    assert track(graph, ("ns", "b"), app_body("b", "False", "a")) == []
    assert track(graph, ("ns", "c"), app_body("c", "False", "a")) == []
    assert track(graph, ("ns", "a"), app_body("a", "Unknown")) == []
    woken = track(graph, ("ns", "a"), app_body("a", "True"))
    assert woken == [("ns", "b"), ("ns", "c")]
    assert track(graph, ("ns", "a"), app_body("a", "True")) == []
    assert track(graph, ("ns", "b"), None) == []
    assert DependencyRef("ns", "b") not in graph.applications.dependencies
