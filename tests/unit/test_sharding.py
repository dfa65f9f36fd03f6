"""The pure decisions of sharding: the ring, membership views, who may write, selectors."""

from __future__ import annotations

import pytest

from gitops_operator.config import Settings
from gitops_operator.errors import FencedError
from gitops_operator.sharding import (
    MemberLease,
    MemberTracker,
    ShardingMode,
    Standing,
    Timing,
    View,
    acting,
    owner,
    owns,
    parse_selector,
    shard_key,
    shares,
)
from gitops_operator.shards import Shards

KEYS = [shard_key("Application", f"ns{i % 7}", f"app-{i}") for i in range(3000)]


def test_shares_are_within_ten_percent_of_even():
    counts = shares(["a", "b", "c"], KEYS)
    assert sum(counts.values()) == len(KEYS)
    for count in counts.values():
        assert abs(count - 1000) < 100, counts


def test_losing_a_member_moves_only_its_share():
    before = {k: owner(["a", "b", "c"], k) for k in KEYS}
    after = {k: owner(["a", "c"], k) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert moved and all(before[k] == "b" for k in moved)
    assert len(moved) == sum(1 for k in KEYS if before[k] == "b")


def test_adding_a_member_moves_keys_only_to_it():
    before = {k: owner(["a", "b"], k) for k in KEYS}
    after = {k: owner(["a", "b", "c"], k) for k in KEYS}
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == "c" for k in moved)
    assert abs(len(moved) - 1000) < 100


def test_the_owner_does_not_depend_on_the_order_members_are_listed():
    assert all(owner(["a", "b", "c"], k) == owner(["c", "a", "b"], k) for k in KEYS[:200])
    assert owner([], "x") is None


def test_a_member_is_live_until_its_renew_time_stays_the_same_for_a_while():
    tracker = MemberTracker(expire_after=10)
    view = tracker.observe([MemberLease("a", "t1"), MemberLease("b", "t1")], now=0)
    assert view.members == ("a", "b")
    view = tracker.observe([MemberLease("a", "t2"), MemberLease("b", "t1")], now=9)
    assert view.members == ("a", "b")
    view = tracker.observe([MemberLease("a", "t3"), MemberLease("b", "t1")], now=10.5)
    assert view.members == ("a",), "b renewed nothing for 10.5 s of the local clock"
    assert tracker.expired_for("b", 12) == pytest.approx(2)
    view = tracker.observe([MemberLease("a", "t4"), MemberLease("b", "t2")], now=11)
    assert view.members == ("a", "b"), "b renews again: live again"
    view = tracker.observe([MemberLease("a", "t5")], now=12)
    assert view.members == ("a",), "a deleted Lease is gone at once"


def test_a_lease_first_seen_counts_as_renewed_then_whatever_its_renew_time_says():
    """No wall clock is compared with another replica's: a Lease left by a dead replica
    is live for one lease duration after it is first seen."""
    tracker = MemberTracker(expire_after=5)
    assert tracker.observe([MemberLease("old", "2001-01-01T00:00:00Z")], now=100).members == (
        "old",
    )
    assert tracker.observe([MemberLease("old", "2001-01-01T00:00:00Z")], now=105).members == ()


TIMING = Timing(renew_period=2, lease_duration=15)


def standing(joined=0.0, renewed=20.0, taken=20.0, members=("a", "b")):
    return Standing("a", joined, renewed, View(members, taken))


@pytest.mark.parametrize(
    ("state", "now", "expected", "why"),
    [
        (standing(), 21, True, "renewed and listed 1 s ago, warmed up"),
        (standing(joined=19), 21, False, "joined 2 s ago: still warming up"),
        (standing(renewed=10), 21, False, "own Lease not renewed for 11 s: self-fenced"),
        (standing(taken=10), 21, False, "a view 11 s old may miss a new member"),
        (standing(members=("b",)), 21, False, "not in its own view"),
        (Standing("a", None, None, None), 21, False, "never joined"),
    ],
)
def test_when_a_replica_acts(state, now, expected, why):
    assert acting(state, TIMING, now) is expected, why


def test_a_replica_writes_only_what_the_ring_gives_it():
    state = standing()
    mine = [k for k in KEYS[:300] if owns(state, TIMING, k, 21)]
    assert mine == [k for k in KEYS[:300] if owner(("a", "b"), k) == "a"]
    assert not any(owns(standing(taken=10), TIMING, k, 21) for k in KEYS[:300])


def test_warm_up_outlasts_the_oldest_view_a_member_writes_on():
    assert TIMING.warm_up > TIMING.max_view_age
    assert TIMING.expire_after == 11
    with pytest.raises(ValueError, match="five renew periods"):
        Timing(renew_period=2, lease_duration=10).check()
    Timing(renew_period=1, lease_duration=6).check()
    Timing().check()


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("sharding.fluxcd.io/key=shard1", {"sharding.fluxcd.io/key": "shard1"}, True),
        ("sharding.fluxcd.io/key=shard1", {"sharding.fluxcd.io/key": "shard2"}, False),
        ("sharding.fluxcd.io/key==shard1", {"sharding.fluxcd.io/key": "shard1"}, True),
        ("!sharding.fluxcd.io/key", {}, True),
        ("!sharding.fluxcd.io/key", {"sharding.fluxcd.io/key": "x"}, False),
        ("team", {"team": ""}, True),
        ("team", {}, False),
        ("tier!=db", {}, True),
        ("tier!=db", {"tier": "db"}, False),
        ("shard in (a, b),team", {"shard": "b", "team": "x"}, True),
        ("shard in (a, b),team", {"shard": "b"}, False),
        ("shard notin (a,b)", {"shard": "c"}, True),
        ("shard notin (a,b)", {"shard": "a"}, False),
    ],
)
def test_label_selectors(selector, labels, expected):
    assert parse_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["", "a=b,", "=x", "a b"])
def test_a_selector_that_does_not_parse_is_refused(bad):
    with pytest.raises(ValueError, match="label selector"):
        parse_selector(bad)


def test_settings_from_the_environment():
    settings = Settings.from_env(
        {
            "GITOPS_SHARDING": "hash",
            "GITOPS_SHARD_IDENTITY": "op-0",
            "GITOPS_SHARD_RENEW_PERIOD": "0.5",
        }
    )
    assert settings.sharding is ShardingMode.HASH
    assert (settings.shard_identity, settings.shard_renew_period) == ("op-0", 0.5)
    assert Settings.from_env({}).sharding is ShardingMode.OFF
    with pytest.raises(ValueError, match="'rings'"):
        Settings.from_env({"GITOPS_SHARDING": "rings"})


def shards_of(env):
    return Shards.from_settings(Settings.from_env({"GITOPS_SHARD_IDENTITY": "me", **env}))


def test_labels_mode_owns_and_writes_only_what_its_selector_matches():
    shards = shards_of({"GITOPS_SHARDING": "labels", "GITOPS_SHARD_SELECTOR": "team=a"})
    assert shards.owns("Application", ("ns", "x"), {"team": "a"})
    assert not shards.owns("Application", ("ns", "x"), {})
    shards.fence("Application", ("ns", "x"), lambda: {"team": "a"})()
    with pytest.raises(FencedError, match="not owned by replica me"):
        shards.fence("Application", ("ns", "x"), lambda: {"team": "b"})()


def test_hash_mode_owns_nothing_before_it_joined_and_off_owns_everything():
    assert not shards_of({"GITOPS_SHARDING": "hash"}).owns("Application", ("ns", "x"), None)
    assert shards_of({}).owns("Application", ("ns", "x"), None)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GITOPS_SHARDING": "labels"}, "needs GITOPS_SHARD_SELECTOR"),
        ({"GITOPS_SHARDING": "labels", "GITOPS_SHARD_SELECTOR": "a b"}, "label selector"),
        ({"GITOPS_SHARDING": "hash", "GITOPS_LEASE_DURATION": "5"}, "five renew periods"),
    ],
)
def test_sharding_settings_that_cannot_work_are_refused(env, message):
    with pytest.raises(ValueError, match=message):
        shards_of(env)
