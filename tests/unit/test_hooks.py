"""Hooks as pure data: which objects are hooks and of which phase, their delete
policies, what a live hook's health means, and status.hooks read back."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_operator.errors import SyncAnnotationError
from gitops_operator.health import Health, HealthStatus
from gitops_operator.hooks import (
    DeletePolicy,
    Hook,
    HookPhase,
    HookState,
    classify,
    deleted_after,
    hook_state,
    phase_state,
    record,
    recorded,
    rerun_failed,
    resumable,
    split_hooks,
    summary,
)
from gitops_operator.objects import Manifest
from gitops_operator.reconcilers.sync_fail import noted

PRE, SYNC, POST = HookPhase.PRE_SYNC, HookPhase.SYNC, HookPhase.POST_SYNC
BEFORE = DeletePolicy.BEFORE_HOOK_CREATION


def job(name: str = "migrate", **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
    }


@pytest.mark.parametrize(
    ("annotations", "phases", "policies"),
    [
        ({"gitops-operator.dev/hook": "PreSync"}, (PRE,), {BEFORE}),
        ({"argocd.argoproj.io/hook": "PostSync"}, (POST,), {BEFORE}),
        ({"argocd.argoproj.io/hook": "PreSync,PostSync"}, (PRE, POST), {BEFORE}),
        ({"argocd.argoproj.io/hook": "Sync"}, (SYNC,), {BEFORE}),
        ({"helm.sh/hook": "pre-install,pre-upgrade"}, (PRE,), {BEFORE}),
        ({"helm.sh/hook": "post-install, post-upgrade"}, (POST,), {BEFORE}),
        # ours wins over Argo CD's, Argo CD's over Helm's, for the hook and its policy
        (
            {
                "gitops-operator.dev/hook": "PostSync",
                "argocd.argoproj.io/hook": "PreSync",
                "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
                "helm.sh/hook-delete-policy": "hook-failed",
            },
            (POST,),
            {DeletePolicy.HOOK_SUCCEEDED},
        ),
        (
            {
                "helm.sh/hook": "pre-upgrade",
                "helm.sh/hook-delete-policy": "hook-succeeded,hook-failed",
            },
            (PRE,),
            {DeletePolicy.HOOK_SUCCEEDED, DeletePolicy.HOOK_FAILED},
        ),
    ],
)
def test_hooks_and_their_phases_and_delete_policies(annotations, phases, policies):
    found = classify(job(**annotations))
    assert isinstance(found, Hook)
    assert found.phases == phases
    assert found.delete_policies == policies


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        ({}, None),
        ({"helm.sh/hook": "crd-install"}, None),
        ({"argocd.argoproj.io/hook": "Skip"}, "skip"),
        ({"helm.sh/hook": "test"}, "skip"),
        ({"helm.sh/hook": "test-success"}, "skip"),
    ],
)
def test_ordinary_and_skipped_objects(annotations, expected):
    assert classify(job(**annotations)) == expected


@pytest.mark.parametrize(
    ("annotations", "fragment"),
    [
        ({"gitops-operator.dev/hook": "PostDelete"}, "PostDelete hooks are not supported yet"),
        ({"helm.sh/hook": "pre-delete"}, "pre-delete hooks are not supported yet"),
        ({"helm.sh/hook": "pre-rollback"}, "rollback hooks are not run"),
        ({"argocd.argoproj.io/hook": "Presync"}, "'Presync': unknown hook type"),
        (
            {
                "argocd.argoproj.io/hook": "PreSync",
                "argocd.argoproj.io/hook-delete-policy": "Never",
            },
            "argocd.argoproj.io/hook-delete-policy='Never': unknown hook delete policy",
        ),
    ],
)
def test_hooks_that_cannot_run_say_why(annotations, fragment):
    why = classify(job(**annotations))
    assert isinstance(why, str) and fragment in why


def test_split_sets_hooks_apart_and_refuses_every_unsupported_one_in_one_error():
    plain = Manifest(job("plain"), "plain.yaml")
    pre = Manifest(job(**{"argocd.argoproj.io/hook": "PreSync"}), "pre.yaml")
    test = Manifest(job("t", **{"helm.sh/hook": "test"}), "test.yaml")
    ordinary, hooks = split_hooks([plain, pre, test])
    assert ordinary == [plain]
    assert [h.manifest for h in hooks] == [pre]
    with pytest.raises(SyncAnnotationError) as refused:
        split_hooks(
            [
                plain,
                Manifest(job("a", **{"argocd.argoproj.io/hook": "PostDelete"}), "a.yaml"),
                Manifest(job("b", **{"helm.sh/hook": "post-delete"}), "b.yaml"),
            ]
        )
    assert refused.value.reason == "HooksNotSupported"
    message = str(refused.value)
    assert message.startswith("nothing applied; ")
    assert "a.yaml" in message and "b.yaml" in message


@pytest.mark.parametrize(
    ("live", "health", "state"),
    [
        (None, Health(HealthStatus.MISSING), HookState.FAILED),
        ({}, Health(HealthStatus.HEALTHY, "Job completed"), HookState.SUCCEEDED),
        ({}, Health(HealthStatus.DEGRADED, "BackoffLimitExceeded"), HookState.FAILED),
        ({}, Health(HealthStatus.PROGRESSING), HookState.RUNNING),
        ({}, Health(HealthStatus.SUSPENDED), HookState.RUNNING),
    ],
)
def test_hook_state_from_health(live, health, state):
    assert hook_state(live, health)[0] is state


@pytest.mark.parametrize(
    ("policies", "state", "deleted"),
    [
        (["BeforeHookCreation"], HookState.SUCCEEDED, False),
        (["HookSucceeded"], HookState.SUCCEEDED, True),
        (["HookSucceeded"], HookState.FAILED, False),
        (["HookFailed"], HookState.FAILED, True),
        (["HookFailed", "HookSucceeded"], HookState.SUCCEEDED, True),
        (["HookSucceeded"], HookState.RUNNING, False),
    ],
)
def test_deleted_after(policies, state, deleted):
    assert deleted_after(policies, state) is deleted


def items(*states: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "namespace": "ns",
            "name": f"j{n}",
            "hook": hook,
            "phase": phase,
        }
        for n, (hook, phase) in enumerate(states)
    ]


@pytest.mark.parametrize(
    ("states", "phase", "expected"),
    [
        ((), PRE, HookState.SUCCEEDED),
        ((("PostSync", "Pending"),), PRE, HookState.SUCCEEDED),
        ((("PreSync", "Pending"), ("PreSync", "Pending")), PRE, HookState.PENDING),
        ((("PreSync", "Succeeded"), ("PreSync", "Pending")), PRE, HookState.RUNNING),
        ((("PreSync", "Running"), ("PreSync", "Succeeded")), PRE, HookState.RUNNING),
        ((("PreSync", "Running"), ("PreSync", "Failed")), PRE, HookState.FAILED),
        ((("PreSync", "Succeeded"), ("PostSync", "Running")), POST, HookState.RUNNING),
    ],
)
def test_phase_state(states, phase, expected):
    assert phase_state(items(*states), phase) is expected


def test_record_lists_each_hook_once_per_phase_in_the_order_phases_run():
    both = Hook(Manifest(job("both"), ""), (POST, PRE), frozenset({BEFORE}))
    sync = Hook(Manifest(job("sync"), ""), (SYNC,), frozenset({BEFORE}))
    pre = Hook(Manifest(job("pre"), ""), (PRE,), frozenset({DeletePolicy.HOOK_SUCCEEDED}))
    stored = record("main@sha1:abc", [both, sync, pre])
    assert stored is not None
    assert [(i["hook"], i["name"], i["phase"]) for i in stored["items"]] == [
        ("PreSync", "both", "Pending"),
        ("PreSync", "pre", "Pending"),
        ("Sync", "sync", "Pending"),
        ("PostSync", "both", "Pending"),
    ]
    assert stored["items"][2]["deletePolicy"] == "BeforeHookCreation"
    assert stored["items"][1]["deletePolicy"] == "HookSucceeded"
    assert record("main@sha1:abc", []) is None
    assert resumable(stored, "main@sha1:abc") == stored["items"]


@pytest.mark.parametrize(
    ("stored", "revision"),
    [
        (None, "r1"),
        ({"revision": "r0", "items": items(("PreSync", "Running"))}, "r1"),
        ({"revision": "r1", "items": items(("PreSync", "Failed"))}, "r1"),  # a new attempt
        ({"revision": "r1", "items": [{"kind": "Job"}]}, "r1"),
        ({"revision": "r1", "items": items(("PreSync", "Done"))}, "r1"),
        ({"revision": "r1", "items": "nope"}, "r1"),
    ],
)
def test_records_that_do_not_resume(stored, revision):
    assert resumable(stored, revision) is None


def test_sync_fail_is_a_hook_recorded_only_when_asked_for():
    found = classify(job(**{"argocd.argoproj.io/hook": "SyncFail"}))
    assert isinstance(found, Hook) and found.phases == (HookPhase.SYNC_FAIL,)
    pre = Hook(Manifest(job("pre"), ""), (PRE,), frozenset({BEFORE}))
    assert record("r1", [found]) is None, "not run by a sync"
    stored = record("r1", [pre, found], (HookPhase.SYNC_FAIL,))
    assert stored is not None
    assert [(i["hook"], i["name"]) for i in stored["items"]] == [("SyncFail", "migrate")]


def test_sync_fail_hooks_never_stop_a_record_resuming():
    stored = {"revision": "r1", "items": items(("PostSync", "Pending"), ("SyncFail", "Failed"))}
    assert resumable(stored, "r1") == stored["items"]


def test_a_failed_record_is_read_back_whole_but_does_not_resume():
    stored = {"revision": "r1", "items": items(("PostSync", "Failed"), ("SyncFail", "Running"))}
    assert resumable(stored, "r1") is None
    assert recorded(stored, "r1") == stored["items"]
    assert recorded(stored, "r2") is None
    assert phase_state(stored["items"], HookPhase.SYNC_FAIL) is HookState.RUNNING


def test_summary_for_history():
    got = summary(items(("PreSync", "Succeeded"), ("PostSync", "Failed")))
    assert got == "PreSync Job/j0 Succeeded, PostSync Job/j1 Failed"


def test_sync_fail_results_are_added_to_the_failed_revisions_newest_history_entry():
    history = [
        {"revision": "r2", "result": "RolledBack", "message": "PostSync hook failed"},
        {"revision": "r2", "result": "Failed", "message": "older"},
        {"revision": "r1", "result": "Succeeded"},
    ]
    got = noted(list(history), "r2", "SyncFail Job/notify Succeeded")
    assert got[0]["message"] == "PostSync hook failed; SyncFail Job/notify Succeeded"
    assert got[1:] == history[1:]
    assert noted([{"revision": "r1"}], "r1", "x")[0]["message"] == "x"


def test_pre_delete_is_a_hook_never_run_by_a_sync():
    found = classify(job(**{"gitops-operator.dev/hook": "PreDelete"}))
    assert isinstance(found, Hook) and found.phases == (HookPhase.PRE_DELETE,)
    assert record("r1", [found]) is None
    stored = record("r1", [found], (HookPhase.PRE_DELETE,))
    assert stored is not None and stored["items"][0]["hook"] == "PreDelete"


def test_a_retry_requested_after_a_pre_delete_failed_runs_it_again():
    failed = {**items(("PreDelete", "Failed"))[0], "finishedAt": "2026-01-01T10:00:00Z"}
    other = {**items(("PostSync", "Failed"))[0], "finishedAt": "2026-01-01T09:00:00Z"}
    again = rerun_failed([failed, other], HookPhase.PRE_DELETE, "2026-01-01T10:00:05Z")
    assert [i["phase"] for i in again] == ["Pending", "Failed"]
    before = rerun_failed([failed], HookPhase.PRE_DELETE, "2026-01-01T09:59:00Z")
    assert before[0]["phase"] == "Failed", "a retryAt older than the failure is spent"
