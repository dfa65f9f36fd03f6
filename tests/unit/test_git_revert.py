"""The pure parts of rollbacks that Git remembers: spec parsing, branch naming, the
commit message, the record in status and history."""

from __future__ import annotations

import pytest

from gitops_operator.api import parse_application_spec
from gitops_operator.api.git_revert import (
    DEFAULT_AUTHOR_EMAIL,
    DEFAULT_BRANCH_PREFIX,
    RevertTarget,
    parse_git_revert,
)
from gitops_operator.errors import InvalidSpecError
from gitops_operator.reconcilers.revert_plan import (
    RECORD_FIELDS,
    already_done,
    backoff,
    branch_name,
    commit_message,
    complete,
    pending,
    tracked_branch,
    trailer,
    with_history,
)

GOOD = "a" * 40
FAILED = "b" * 40


def test_absent_means_no_revert_and_defaults_are_a_new_branch():
    assert parse_git_revert(None) is None
    spec = parse_git_revert({"secretRef": {"name": "w"}})
    assert spec is not None
    assert (spec.secret_name, spec.target, spec.branch_prefix) == (
        "w",
        RevertTarget.BRANCH,
        DEFAULT_BRANCH_PREFIX,
    )
    assert (spec.author_name, spec.author_email) == ("gitops-operator", DEFAULT_AUTHOR_EMAIL)
    app = parse_application_spec(
        {"sourceRef": {"name": "r"}, "rollback": {"gitRevert": {"secretRef": {"name": "w"}}}},
        "ns",
    )
    assert app.rollback.git_revert == spec


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({}, None),
        ({"target": "Branch"}, "secretRef.name is required"),
        ({"secretRef": {"name": "w"}, "target": "Main"}, "not one of Branch, TrackedBranch"),
        ({"secretRef": {"name": "w"}, "branchPrefix": "a..b/"}, "does not make a branch"),
        ({"secretRef": {"name": "w"}, "branchPrefix": "-x"}, "does not make a branch"),
        ({"secretRef": {"name": "w"}, "branchPrefix": "refs/heads/x"}, "does not make a branch"),
        ({"secretRef": {"name": "w"}, "author": {"email": "no-at"}}, "not an email"),
        ({"secretRef": {"name": "w"}, "author": {"name": "a <b>"}}, "not a name"),
        (
            {"secretRef": {"name": "w"}, "target": "TrackedBranch", "providerRef": {"name": "p"}},
            "needs target Branch",
        ),
    ],
)
def test_bad_specs_are_refused_with_the_field_named(value, words):
    if words is None:
        assert parse_git_revert(value) is None
        return
    with pytest.raises(InvalidSpecError) as err:
        parse_git_revert(value)
    assert words in err.value.message and "spec.rollback.gitRevert" in err.value.message


def test_the_branch_is_named_after_the_failed_commit():
    assert branch_name("gitops-operator/revert-", f"main@sha1:{FAILED}") == (
        "gitops-operator/revert-bbbbbbbbbbbb"
    )
    assert branch_name("reverts/", f"sha1:{FAILED}") == "reverts/bbbbbbbbbbbb"


def test_the_tracked_branch_comes_from_the_revision_string():
    assert tracked_branch(f"release/1.x@sha1:{FAILED}") == "release/1.x"
    assert tracked_branch(f"sha1:{FAILED}") == ""


def test_the_message_names_the_range_the_application_and_the_failure():
    message = commit_message(
        "ns", "app", f"main@sha1:{GOOD}", f"main@sha1:{FAILED}", "did not become\nhealthy"
    )
    subject, _, body = message.partition("\n\n")
    assert subject == "Revert aaaaaaaaaaaa..bbbbbbbbbbbb: ns/app was rolled back"
    assert f"{GOOD}..{FAILED}" in body and "Failure: did not become healthy" in body
    assert message.rstrip().endswith(
        trailer("ns", "app", f"main@sha1:{GOOD}", f"main@sha1:{FAILED}")
    )
    assert trailer("ns", "app", GOOD, FAILED) == f"Gitops-Operator-Revert: ns/app {GOOD}..{FAILED}"


def test_a_long_failure_is_clipped_in_the_message():
    message = commit_message("ns", "app", GOOD, FAILED, "x" * 5000, limit=100)
    assert "x" * 97 + "..." in message and "x" * 98 not in message


def test_the_record_names_every_field_so_a_merge_patch_replaces_it():
    record = pending(f"main@sha1:{FAILED}", f"main@sha1:{GOOD}")
    assert set(record) == set(RECORD_FIELDS)
    assert (record["state"], record["attempts"], record["commit"]) == ("Pending", 0, None)
    assert complete({"state": "Pushed"})["reason"] is None


def test_a_pushed_revert_of_the_same_revision_is_kept():
    pushed = {"revision": "main@sha1:b", "state": "Pushed"}
    assert already_done(pushed, "main@sha1:b")
    assert not already_done(pushed, "main@sha1:c")
    assert not already_done({**pushed, "state": "Failed"}, "main@sha1:b")
    assert not already_done(None, "main@sha1:b")


def test_retries_back_off():
    assert [backoff(n) for n in (1, 2, 3)] == [30.0, 60.0, 120.0]


def test_the_revert_is_recorded_in_the_rolled_back_entry_only():
    status = {
        "history": [
            {"revision": "main@sha1:c", "result": "Succeeded"},
            {"revision": "main@sha1:b", "result": "RolledBack"},
            {"revision": "main@sha1:b", "result": "Failed"},
        ]
    }
    record = {"state": "Pushed", "commit": "c0ffee", "branch": "x", "reason": None}
    history = with_history(status, "main@sha1:b", record)
    assert [h.get("gitRevert") for h in history] == [
        None,
        {"state": "Pushed", "commit": "c0ffee", "branch": "x"},
        None,
    ]
    assert "gitRevert" not in status["history"][1], "the input is not changed"
