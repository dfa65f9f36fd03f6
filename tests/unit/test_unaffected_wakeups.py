"""Which Applications of a repository a new commit wakes: those it may change, those they
depend on, and every one whose state or inputs are not known for sure."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import pytest

from gitops_operator.api import REQUESTED_AT_ANNOTATION, DependencyRef
from gitops_operator.reconcilers.unaffected import (
    InputsSeen,
    Settled,
    settled_state,
    to_wake,
)

URL = "https://git.example/platform.git"
OLD, NEW, OTHER = "a" * 40, "b" * 40, "c" * 40
CHANGED = {(OLD, NEW): frozenset({"apps/a/cm.yaml", "docs/README.md"})}


def changed_paths(url: str, old: str, new: str) -> frozenset[str] | None:
    assert url == URL
    return CHANGED.get((old, new))


def settled(applied: str = OLD, *, generation: int = 1, also: str = "") -> Settled:
    return Settled(generation, applied, frozenset({applied, *([also] if also else [])}))


def seen(*inputs: str, tree: str = OLD, generation: int = 1, url: str = URL) -> InputsSeen:
    return InputsSeen(url, tree, generation, frozenset(inputs))


def wake(
    states: dict[tuple[str, str], Settled],
    inputs: dict[tuple[str, str], InputsSeen],
    depends_on: Mapping[DependencyRef, Collection[DependencyRef]] | None = None,
    new: str = NEW,
) -> list[tuple[str, str]]:
    apps = sorted({*states, *inputs, ("ns", "unknown")})
    return to_wake(apps, URL, new, states, inputs, depends_on or {}, changed_paths)


A, B, C = ("ns", "a"), ("ns", "b"), ("ns", "c")


def test_only_the_application_whose_inputs_changed_is_woken() -> None:
    states = {A: settled(), B: settled()}
    inputs = {A: seen("apps/a/"), B: seen("apps/b/", "shared/base/kustomization.yaml")}
    assert wake(states, inputs) == [A, ("ns", "unknown")]


def test_an_application_known_only_by_its_state_or_its_inputs_is_woken() -> None:
    assert wake({B: settled()}, {}) == [B, ("ns", "unknown")]
    assert wake({}, {B: seen("apps/b/")}) == [B, ("ns", "unknown")]


@pytest.mark.parametrize(
    "inputs",
    [
        seen("apps/b/", tree=OTHER),  # read in a tree that is not its current one
        seen("apps/b/", generation=2),  # read for another spec
        seen("apps/b/", url="https://git.example/fork.git"),  # of another repository
    ],
)
def test_inputs_that_do_not_describe_the_current_revision_wake(inputs: InputsSeen) -> None:
    assert B in wake({B: settled()}, {B: inputs})


def test_inputs_read_in_the_unaffected_revision_count_as_current() -> None:
    states = {B: settled(also=OTHER)}
    assert B not in wake(states, {B: seen("apps/b/", tree=OTHER)})


def test_unknown_changed_paths_wake() -> None:
    # the mirror has no diff between the applied commit and the new one
    assert B in wake({B: settled()}, {B: seen("apps/b/")}, new=OTHER)


def test_a_revision_already_current_wakes() -> None:
    assert B in wake({B: settled(also=NEW)}, {B: seen("apps/b/")})


def test_what_a_woken_application_depends_on_is_woken_transitively() -> None:
    states = {A: settled(), B: settled(), C: settled()}
    inputs = {A: seen("apps/a/"), B: seen("apps/b/"), C: seen("apps/c/")}
    depends_on = {
        DependencyRef(*A): (DependencyRef(*B),),
        DependencyRef(*B): (DependencyRef(*C),),
    }
    assert wake(states, inputs, depends_on) == [A, B, C, ("ns", "unknown")]
    # a dependent of the woken one is not (it is woken when A turns ready at the commit)
    assert wake(states, inputs, {DependencyRef(*B): (DependencyRef(*A),)}) == [
        A,
        ("ns", "unknown"),
    ]


def app(**status: Any) -> dict[str, Any]:
    applied = f"main@sha1:{OLD}"
    base = {
        "observedGeneration": 3,
        "lastAppliedRevision": applied,
        "lastGoodRevision": applied,
        "lastAppliedAt": "2026-01-01T00:00:00Z",
        "healthyAt": "2026-01-01T00:00:05Z",
    }
    return {"metadata": {"generation": 3}, "spec": {}, "status": {**base, **status}}


def test_a_healthy_last_good_revision_is_settled() -> None:
    assert settled_state(app()) == Settled(3, OLD, frozenset({OLD}))
    unaffected = {
        "revision": f"main@sha1:{NEW}",
        "appliedRevision": f"main@sha1:{OLD}",
        "checkedAt": "2026-01-01T00:01:00Z",
    }
    state = settled_state(app(unaffectedRevision=unaffected))
    assert state is not None and state.current_shas == {OLD, NEW}


@pytest.mark.parametrize(
    "status",
    [
        {"observedGeneration": 2},  # a spec change not yet reconciled
        {"healthyAt": ""},  # not healthy yet
        {"lastGoodRevision": f"main@sha1:{OTHER}"},  # soaking, or rolled back from
        {"lastAppliedRevision": ""},  # never applied
        {"syncWave": {"revision": f"main@sha1:{OLD}", "wave": 1, "appliedAt": "x"}},
    ],
)
def test_anything_under_way_is_not_settled(status: dict[str, Any]) -> None:
    assert settled_state(app(**status)) is None


def test_a_pending_sync_request_or_suspension_is_not_settled() -> None:
    asked = app()
    asked["metadata"]["annotations"] = {REQUESTED_AT_ANNOTATION: "now"}
    assert settled_state(asked) is None
    suspended = app()
    suspended["spec"]["suspend"] = True
    assert settled_state(suspended) is None
