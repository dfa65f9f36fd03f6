"""Sync waves as data: reading a wave, grouping a revision's objects, refusing bad values."""

from __future__ import annotations

import pytest

from gitops_operator.errors import SyncAnnotationError
from gitops_operator.objects import Manifest
from gitops_operator.waves import live_wave, parse_wave, waves_of

OURS = "gitops-operator.dev/sync-wave"
ARGO = "argocd.argoproj.io/sync-wave"


def obj(kind: str, name: str, **annotations: str) -> Manifest:
    meta = {"name": name, "namespace": "" if kind in ("Namespace",) else "ns"}
    return Manifest(
        {"apiVersion": "v1", "kind": kind, "metadata": {**meta, "annotations": annotations}},
        f"{name}.yaml",
    )


@pytest.mark.parametrize(
    ("text", "wave"),
    [("0", 0), ("-1", -1), ("+2", 2), (" 7 ", 7), ("007", 7), ("2147483647", 2**31 - 1)],
)
def test_parse_wave_reads_integers(text, wave):
    assert parse_wave(text) == wave


@pytest.mark.parametrize("text", ["", "one", "1.5", "1e3", "1_000", "--1", "99999999999", "0x1"])
def test_parse_wave_refuses_what_is_not_an_integer(text):
    assert parse_wave(text) is None


def test_ours_wins_over_argo_cd_and_no_annotation_is_wave_zero():
    waves = waves_of(
        [
            obj("ConfigMap", "a", **{OURS: "3", ARGO: "-2"}),
            obj("ConfigMap", "b", **{ARGO: "-2"}),
            obj("ConfigMap", "c"),
        ]
    )
    assert {ref.name: w for ref, w in waves.by_ref.items()} == {"a": 3, "b": -2, "c": 0}
    assert waves.numbers == [-2, 0, 3]
    assert (waves.first, waves.after(-2), waves.after(0), waves.after(3)) == (-2, 0, 3, None)
    assert waves.remaining(-2) == 2


def test_crds_and_namespaces_are_applied_with_the_first_wave_whatever_theirs():
    waves = waves_of([obj("Namespace", "late", **{OURS: "5"}), obj("ConfigMap", "a")])
    assert waves.single, "a Namespace's wave makes no wave of its own"
    assert waves.held_after(waves.first) == set()
    assert {r.name for r in waves.applied_through(0)} == {"late", "a"}


def test_later_waves_are_held_until_their_turn():
    waves = waves_of([obj("ConfigMap", "a", **{OURS: "1"}), obj("ConfigMap", "b")])
    assert not waves.single
    assert {r.name for r in waves.held_after(0)} == {"a"}
    assert {r.name for r in waves.in_wave(1)} == {"a"}
    assert {r.name for r in waves.applied_through(0)} == {"b"}
    assert {r.name for r in waves.applied_through(1)} == {"a", "b"}


def test_a_revision_without_waves_is_one_wave():
    assert waves_of([obj("ConfigMap", "a"), obj("Secret", "b")]).numbers == [0]
    assert waves_of([]).single


def test_every_bad_wave_is_named_in_one_error():
    with pytest.raises(SyncAnnotationError) as err:
        waves_of([obj("ConfigMap", "a", **{ARGO: "first"}), obj("ConfigMap", "b", **{OURS: ""})])
    assert err.value.reason == "InvalidSyncWave"
    message = str(err.value)
    assert message.startswith("nothing applied; a sync wave must be an integer")
    assert "ConfigMap/ns/a (a.yaml): argocd.argoproj.io/sync-wave='first'" in message
    assert "ConfigMap/ns/b (b.yaml): gitops-operator.dev/sync-wave=''" in message


@pytest.mark.parametrize(
    ("annotations", "wave"),
    [({}, 0), ({ARGO: "4"}, 4), ({OURS: "-3", ARGO: "4"}, -3), ({OURS: "edited"}, 0)],
)
def test_live_wave_never_fails_a_prune(annotations, wave):
    assert live_wave({"metadata": {"annotations": annotations}}) == wave
