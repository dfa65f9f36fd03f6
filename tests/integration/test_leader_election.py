"""Two replicas, one leader over a Lease: the standby takes over without a lost or doubled
sync."""

from __future__ import annotations

import contextlib
import signal
import time

from .apps import application, configmap, repository
from .support import Operator, get_status, wait_for
from .test_reconcile import synced_to

LEASE = 6


@contextlib.contextmanager
def leader_and_standby(kube, operator, repo, namespace, lease):
    """Two replicas over one Lease, the leader having synced a first commit; yields
    (leader, standby, first SHA) and restores the session's operator afterwards."""
    operator.stop()
    env = {
        "GITOPS_LEADER_ELECT": "true",
        "GITOPS_LEASE_DURATION": str(lease),
        "GITOPS_LEADER_ELECTION_NAME": f"leader-{namespace}",
    }
    replicas = [
        Operator(operator.kubeconfig, operator.workdir / f"{namespace}-replica-{i}", env=env)
        for i in range(2)
    ]
    try:
        for replica in replicas:
            replica.start()
            time.sleep(1)  # the first one started leads
        leader = wait_for(
            lambda: next((r for r in replicas if "leading as" in r.logs()), None),
            timeout=30,
            what="a leader",
        )
        standby = next(r for r in replicas if r is not leader)
        first = repo.commit({"app/a.yaml": configmap("a", v="1")})
        kube.apply(repository(namespace, repo.url, interval="1s"))
        kube.apply(application(namespace))
        wait_for(lambda: synced_to(kube, namespace, first), timeout=60, what="leader syncs")
        wait_for(
            lambda: "waiting to lead" in standby.logs(),
            timeout=30,
            what="the standby up and waiting",
        )
        assert "applied" not in standby.logs(), "the standby never reconciles"
        yield leader, standby, first
    finally:
        for replica in replicas:
            replica.stop()
        operator.start()


def test_standby_takes_over_within_the_lease_when_the_leader_dies(kube, operator, repo, namespace):
    with leader_and_standby(kube, operator, repo, namespace, LEASE) as (leader, standby, first):
        leader.stop(signal.SIGKILL)
        killed = time.monotonic()
        second = repo.commit({"app/a.yaml": configmap("a", v="2")})
        wait_for(
            lambda: synced_to(kube, namespace, second),
            timeout=LEASE + 30,
            what="the standby applies the next commit",
        )
        took = time.monotonic() - killed
        assert took < LEASE + 15, f"took over and synced after {took:.1f}s"
        assert "leading as" in standby.logs()
        history = get_status(kube, "Application", namespace, "app")["history"]
        revisions = [h["revision"] for h in history]
        assert revisions == [f"main@sha1:{second}", f"main@sha1:{first}"], revisions
        assert all(h["result"] == "Succeeded" for h in history)


def test_a_leader_stopped_gracefully_hands_the_lease_over_at_once(kube, operator, repo, namespace):
    """A rollout or a deleted pod sends SIGTERM: the leader releases its Lease, so the
    standby leads at its next try rather than after the whole lease."""
    lease = 30
    with leader_and_standby(kube, operator, repo, namespace, lease) as (leader, standby, _):
        leader.stop(signal.SIGTERM)
        stopped = time.monotonic()
        wait_for(lambda: "leading as" in standby.logs(), timeout=lease + 10, what="takeover")
        took = time.monotonic() - stopped
        assert "released the leader Lease" in leader.logs()
        print(f"bench: leader stopped by SIGTERM to standby leading in {took:.1f}s")
        assert took < lease / 2, f"the standby led {took:.1f}s after the leader stopped"
