"""Health waits answered by watches, their pure parts: what is trusted, when an
Application is woken, and how the drift watch of a wanted kind turns into a stream of
whole objects that feeds them."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from gitops_operator.drift_watches import DriftWatches
from gitops_operator.health import NO_RULES, Health, HealthStatus
from gitops_operator.health_watches import HealthWatches, version_of
from gitops_operator.objects import ObjectRef

APP, OTHER = ("team", "a"), ("team", "b")
DEPLOYMENT = ("apps/v1", "Deployment")
WEB = ObjectRef("apps", "Deployment", "team", "web").id
API = ObjectRef("apps", "Deployment", "team", "api").id
PROGRESSING = Health(HealthStatus.PROGRESSING, "rolling out")


def deployment(version: int, *, available: bool, name: str = "web") -> dict[str, Any]:
    """A Deployment as the API server sends it: its controller has observed generation 1,
    and its replicas are all available, or none is."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "team",
            "generation": 1,
            "resourceVersion": str(version),
        },
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1 if available else 0,
            "availableReplicas": 1 if available else 0,
        },
    }


def streamed(woken: list[tuple[str, str]] | None = None) -> HealthWatches:
    watches = HealthWatches((woken if woken is not None else []).append)
    watches.streaming(DEPLOYMENT, time.monotonic())
    return watches


def test_resource_versions_compare_as_numbers():
    assert version_of({"metadata": {"resourceVersion": "1000"}}) == 1000
    assert version_of({"metadata": {"resourceVersion": "abc"}}) == 0
    assert version_of({}) == 0


def test_a_followed_object_is_judged_from_its_events_and_its_application_woken_once():
    woken: list[tuple[str, str]] = []
    watches = streamed(woken)
    watches.expect(APP, {WEB: DEPLOYMENT}, NO_RULES)
    assert watches.health_of(WEB) is None, "not before the apply's answer is recorded"
    watches.applied([(WEB, deployment(10, available=False), PROGRESSING)])
    assert watches.health_of(WEB) == PROGRESSING
    watches.seen(WEB, "MODIFIED", deployment(11, available=False))
    assert woken == []
    watches.seen(WEB, "MODIFIED", deployment(12, available=True))
    assert watches.health_of(WEB).status is HealthStatus.HEALTHY
    assert woken == [APP]
    watches.seen(WEB, "MODIFIED", deployment(13, available=True))
    assert woken == [APP], "woken when it settled, not at every event after"


def test_an_event_older_than_the_apply_changes_nothing():
    watches = streamed()
    watches.expect(APP, {WEB: DEPLOYMENT}, NO_RULES)
    watches.seen(WEB, "MODIFIED", deployment(12, available=False))  # arrived first
    watches.applied([(WEB, deployment(11, available=True), Health(HealthStatus.HEALTHY))])
    assert watches.health_of(WEB).status is HealthStatus.PROGRESSING
    watches.seen(WEB, "MODIFIED", deployment(9, available=True))  # a stale replay
    assert watches.health_of(WEB).status is HealthStatus.PROGRESSING


def test_the_application_is_woken_when_all_it_applied_settled_or_one_degraded():
    woken: list[tuple[str, str]] = []
    watches = streamed(woken)
    watches.expect(APP, {WEB: DEPLOYMENT, API: DEPLOYMENT}, NO_RULES)
    watches.applied(
        [
            (WEB, deployment(10, available=False), PROGRESSING),
            (API, deployment(11, available=False, name="api"), PROGRESSING),
        ]
    )
    watches.seen(WEB, "MODIFIED", deployment(12, available=True))
    assert woken == [], "api still rolls out"
    watches.seen(API, "DELETED", deployment(13, available=False, name="api"))
    assert watches.health_of(API).status is HealthStatus.MISSING
    assert woken == [APP]


def test_a_gap_in_the_stream_makes_the_passes_read_again():
    watches = streamed()
    watches.expect(APP, {WEB: DEPLOYMENT}, NO_RULES)
    watches.applied([(WEB, deployment(10, available=False), PROGRESSING)])
    watches.streaming(DEPLOYMENT, None)  # 410 Gone: restarted from now
    assert watches.health_of(WEB) is None
    watches.streaming(DEPLOYMENT, time.monotonic() + 1)  # whole again, after the expect
    assert watches.health_of(WEB) is None, "events between the two may be missed"


def test_only_kinds_streamed_whole_are_followed_and_forget_drops_them():
    watches = HealthWatches(lambda app: None)
    watches.expect(APP, {WEB: DEPLOYMENT}, NO_RULES)
    watches.applied([(WEB, deployment(10, available=False), PROGRESSING)])
    assert watches.health_of(WEB) is None and watches.count() == 0
    watches.streaming(DEPLOYMENT, time.monotonic())
    watches.expect(APP, {WEB: DEPLOYMENT}, NO_RULES)
    watches.expect(OTHER, {API: DEPLOYMENT}, NO_RULES)
    assert watches.count() == 2
    watches.forget(APP)
    assert watches.count() == 1
    watches.expect(OTHER, {}, NO_RULES)  # a new apply replaces what it expected
    assert watches.count() == 0


def test_a_kind_is_asked_for_whole_once():
    asked: list[tuple[str, str]] = []
    watches = HealthWatches(lambda app: None, on_want=asked.append)
    watches.want([DEPLOYMENT, DEPLOYMENT])
    watches.want([DEPLOYMENT, ("v1", "Pod")])
    assert asked == [DEPLOYMENT, ("v1", "Pod")]
    assert watches.wants(DEPLOYMENT) and not watches.wants(("v1", "ConfigMap"))


class StreamingKube:
    """Stands for ``KubeClient.watch_metadata``: records how each watch was asked for,
    and streams the Deployment ``web`` turning available, whole or as metadata."""

    field_manager = "gitops-operator"

    def __init__(self) -> None:
        self.asked: list[tuple[str, bool]] = []
        self.release = threading.Event()

    def watch_metadata(self, api_version: str, kind: str, since: str, timeout: int, full=False):
        self.asked.append((since, full))
        if not since:
            yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "5"}}}
        if not full:
            self.release.wait(5)  # until the stream is restarted whole
            return
        self.release.wait(5)  # the operator expects and applies meanwhile
        obj = deployment(12, available=True)
        yield {"type": "MODIFIED", "object": obj}
        time.sleep(0.5)


def test_a_wanted_kind_is_streamed_whole_from_where_it_was_and_feeds_the_waits():
    kube = StreamingKube()
    woken: list[tuple[str, str]] = []
    health = HealthWatches(woken.append)
    drift = DriftWatches(cast(Any, kube), lambda app: None, health=health)
    health.on_want = drift.restart
    inventory = {"inventory": {"entries": [{"id": WEB, "v": "apps/v1"}]}}
    drift.track(APP, inventory)
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not kube.asked:
            time.sleep(0.01)
        assert kube.asked == [("", False)], "metadata only until a health wait wants it"
        health.want([DEPLOYMENT])
        while time.monotonic() < deadline and len(kube.asked) < 2:
            time.sleep(0.01)
        assert kube.asked[1] == ("5", True), "whole, resumed where the metadata stream was"
        health.expect(APP, {WEB: DEPLOYMENT}, NO_RULES)
        health.applied([(WEB, deployment(10, available=False), PROGRESSING)])
        assert health.health_of(WEB) == PROGRESSING
        kube.release.set()
        while time.monotonic() < deadline and not woken:
            time.sleep(0.01)
    finally:
        drift.stop_all()
    assert woken == [APP]
    assert health.health_of(WEB) is None, "stopped streams are not trusted"
