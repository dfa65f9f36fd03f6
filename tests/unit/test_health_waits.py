"""What a health wait remembers between its passes."""

from __future__ import annotations

from gitops_operator.health import Health, HealthStatus
from gitops_operator.objects import ObjectRef
from gitops_operator.reconcilers.health_waits import HealthWaits

APP = ("ns", "app", "uid-1")
SA, DEPLOY = ObjectRef("", "ServiceAccount", "ns", "a"), ObjectRef("apps", "Deployment", "ns", "a")
HEALTHY, PROGRESSING = Health(HealthStatus.HEALTHY), Health(HealthStatus.PROGRESSING)


def test_objects_found_healthy_are_remembered_for_that_wait_only():
    waits = HealthWaits()
    wait = ("main@sha1:abc", "2026-11-29T19:00:00Z")
    waits.record(APP, wait, [(SA, HEALTHY), (DEPLOY, PROGRESSING)])
    assert waits.healthy(APP, wait) == {SA}
    assert waits.healthy(APP, ("main@sha1:abc", "2026-11-29T19:05:00Z")) == frozenset()
    assert waits.healthy(("ns", "app", "uid-2"), wait) == frozenset()


def test_a_wait_that_ends_or_an_application_deleted_is_forgotten():
    waits = HealthWaits()
    wait = ("main@sha1:abc", "t")
    waits.record(APP, wait, [(SA, HEALTHY), (DEPLOY, HEALTHY)])
    assert waits.healthy(APP, wait) == frozenset()
    waits.record(APP, wait, [(SA, HEALTHY), (DEPLOY, PROGRESSING)])
    waits.forget("ns", "app")
    assert waits.healthy(APP, wait) == frozenset()


def test_a_wait_is_announced_once_and_again_for_a_new_apply():
    waits = HealthWaits()
    first, second = ("main@sha1:abc", "t1"), ("main@sha1:abc", "t2")
    assert waits.announce(APP, first)
    assert not waits.announce(APP, first)
    assert waits.announce(APP, second)  # applied again: a new wait
    waits.forget("ns", "app")
    assert waits.announce(APP, second)  # a deleted and recreated Application
