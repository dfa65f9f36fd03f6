"""Scenario sharding: the MTTP shape (N Applications of one repository) reconciled by three
hash-sharded replicas of our operator, one of them SIGKILLed mid-run.

Measures the time to all Ready, the takeover (kill -> every Application of the killed
replica's share written by a survivor, from polling status.shard and from the audit log),
each replica's share and its deviation from even; and proves from the API server's audit
log that no Application was written by two replicas at once: each replica sends its own
User-Agent (``gitops-operator/<identity>``), and per Application the writes of different
replicas must form blocks that do not interleave or overlap in time.

Flux has no counterpart: its sharding is static (a label selector per controller), with
no takeover of a lost shard, so only ours runs here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby, pairwise
from pathlib import Path

from audit import kwok_patch
from environment import (
    KWOK_CONFIG,
    NAMESPACE,
    OURS,
    Env,
    Options,
    create_all,
    operator_variables,
    start_cluster,
)
from gitops_operator.kube import KubeClient, load_api_client
from gitops_operator.sharding import Timing, owner, shard_key, shares
from gitserver import GitHTTPServer
from localcluster import install_crds
from manifests import make_repository, mttp_files
from operatorprocess import OperatorProcess
from readiness import ready, wait_apps
from results import Results

REPLICAS = ("r0", "r1", "r2")
VICTIM = "r1"
AGENT = "gitops-operator/"
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [create, update, patch, delete]
  resources:
  - group: gitops-operator.dev
    resources: [applications, applications/status]
- level: None
"""


@dataclass(frozen=True, slots=True)
class Write:
    app: str
    agent: str
    received: float
    completed: float


def _time(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def read_audit(path: Path) -> tuple[list[Write], Counter[str]]:
    """Our replicas' writes of Applications (status included), and the others' by agent."""
    ours, others = [], Counter[str]()
    for line in path.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef") or {}
        if event.get("stage") != "ResponseComplete" or ref.get("resource") != "applications":
            continue
        if ref.get("namespace") != NAMESPACE:
            continue
        agent = str(event.get("userAgent") or "")
        if not agent.startswith(AGENT):
            others[agent.split(" ")[0]] += 1
            continue
        ours.append(
            Write(
                str(ref.get("name")),
                agent.removeprefix(AGENT),
                _time(event["requestReceivedTimestamp"]),
                _time(event["stageTimestamp"]),
            )
        )
    return ours, others


@dataclass(frozen=True, slots=True)
class Proof:
    apps: int
    writes: int
    by_two: int
    violations: list[str]
    takeover_audit: float | None
    """Kill -> the last of the killed replica's Applications first written by a survivor."""
    first_taken: float | None
    """Kill -> the first of them written by a survivor: when ownership had moved."""


def check_writes(writes: list[Write], killed_at: float, lost: set[str]) -> Proof:
    """Per Application: the replicas' writes form one block each (no interleaving), each
    block starting after the previous one's last write completed, and any survivor's
    first write of the killed replica's Applications after the kill."""
    by_app: dict[str, list[Write]] = defaultdict(list)
    for write in writes:
        by_app[write.app].append(write)
    violations, by_two = [], 0
    taken: dict[str, float] = {}
    for app, found in by_app.items():
        found.sort(key=lambda w: w.received)
        blocks = [list(group) for _, group in groupby(found, key=lambda w: w.agent)]
        agents = [block[0].agent for block in blocks]
        if len(agents) != len(set(agents)):
            violations.append(f"{app}: writes interleave: {' -> '.join(agents)}")
        if len(set(agents)) > 1:
            by_two += 1
        for before, after in pairwise(blocks):
            if after[0].received <= max(w.completed for w in before):
                violations.append(
                    f"{app}: {after[0].agent} wrote before {before[0].agent}'s last write ended"
                )
            if before[0].agent == VICTIM and after[0].received < killed_at:
                violations.append(f"{app}: {after[0].agent} took over before the kill")
        if app in lost:
            survivor = [w.received for w in found if w.agent != VICTIM and w.received > killed_at]
            if survivor:
                taken[app] = min(survivor) - killed_at
    takeover = max(taken.values()) if lost and len(taken) == len(lost) else None
    first = min(taken.values()) if taken else None
    return Proof(len(by_app), len(writes), by_two, violations, takeover, first)


def _operators(env: Env, stack: contextlib.ExitStack) -> dict[str, OperatorProcess]:
    procs = {}
    for identity in REPLICAS:
        variables = operator_variables(
            env,
            GITOPS_SHARDING="hash",
            GITOPS_SHARD_IDENTITY=identity,
            GITOPS_LEADER_ELECTION_NAMESPACE=NAMESPACE,
        )
        proc = OperatorProcess(env.cluster.kubeconfig, env.work / identity, variables)
        procs[identity] = stack.enter_context(proc)
    for proc in procs.values():
        proc.wait_live()
    return procs


def _wait_members(kube: KubeClient, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leases = kube.list("coordination.k8s.io/v1", "Lease", NAMESPACE)
        if len(leases) >= count:
            time.sleep(Timing().warm_up + Timing().renew_period)  # every member acting
            return
        time.sleep(0.5)
    raise SystemExit(f"{count} membership Leases did not appear in {timeout:.0f}s")


def _shards(env: Env, names: set[str]) -> dict[str, str]:
    return {
        o["metadata"]["name"]: str((o.get("status") or {}).get("shard") or "")
        for o in env.list(env.app_kind)
        if o["metadata"]["name"] in names
    }


def _ready_count(env: Env, names: set[str]) -> int:
    return sum(
        1 for o in env.list(env.app_kind) if o["metadata"]["name"] in names and ready(o, env.sha)
    )


def _deviation(shares: dict[str, int], total: int) -> float:
    even = total / len(shares)
    return max(abs(count - even) for count in shares.values()) / even * 100


def bench_sharding(n: int, runs: int, opts: Options, results: Results) -> None:
    for run in range(runs):
        _one_run(n, run, opts, results)


def _one_run(n: int, run: int, opts: Options, results: Results) -> None:
    label = f"sharding{n}-{run}"
    work = Path(tempfile.mkdtemp(prefix=f"scale-{label}-"))
    sha = make_repository(work / "git", mttp_files(n))
    patch, audit = kwok_patch(work, AUDIT_POLICY)
    (work / "kwok.yaml").write_text(KWOK_CONFIG + patch)
    names = {f"app-{i}" for i in range(n)}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(GitHTTPServer(work / "git"))
        cluster = start_cluster(f"scale-{label}-{os.getpid()}", work / "kwok.yaml")
        stack.callback(cluster.stop)
        api = load_api_client(str(cluster.kubeconfig))
        kube = KubeClient(api, field_manager="bench")
        env = Env(OURS, label, work, cluster, kube, api, server, sha, opts)
        install_crds(kube)
        env.create_namespace(NAMESPACE)
        procs = _operators(env, stack)
        _wait_members(kube, len(REPLICAS))
        ring = {name: owner(REPLICAS, shard_key("Application", NAMESPACE, name)) for name in names}
        lost = {name for name, found in ring.items() if found == VICTIM}
        objects = [env.repository()] + [
            env.application(f"app-{i}", f"apps/app-{i}", NAMESPACE, "5m") for i in range(n)
        ]
        started = time.monotonic()
        create_all(env, objects)
        while _ready_count(env, names) < n // 3 and time.monotonic() - started < opts.timeout:
            time.sleep(0.5)
        procs[VICTIM].stop(signal.SIGKILL)
        killed, killed_at = time.monotonic(), time.time()
        survivors = tuple(r for r in REPLICAS if r != VICTIM)
        takeover = None
        while time.monotonic() - killed < opts.timeout:
            shards = _shards(env, lost)
            if all(shards.get(name) in survivors for name in lost):
                takeover = time.monotonic() - killed
                break
            time.sleep(0.5)
        waited = wait_apps(env, names, opts.timeout)
        total = None if waited is None else time.monotonic() - started
        final = Counter(_shards(env, names).values())
        time.sleep(2)  # the audit log's last lines
        writes, others = read_audit(audit)
        proof = check_writes(writes, killed_at, lost)
        pairs = {(w.app, w.agent) for w in writes if w.received < killed_at}
        before = Counter(agent for _, agent in pairs)
        planned = shares(REPLICAS, [shard_key("Application", NAMESPACE, name) for name in names])
        if opts.keep_logs:
            opts.keep_logs.mkdir(parents=True, exist_ok=True)
            for log in [audit, *work.glob("r*/operator.log")]:
                shutil.copy(log, opts.keep_logs / f"{label}-{log.parent.name}-{log.name}")
    shutil.rmtree(work, ignore_errors=True)
    print(
        f"  sharding n={n} run {run}: 3 replicas, {VICTIM} SIGKILLed at "
        f"{killed - started:.1f}s with {n // 3} Ready; all Ready in "
        f"{'TIMEOUT' if total is None else f'{total:.1f}s'}; takeover of its {len(lost)} "
        f"Applications {'TIMEOUT' if takeover is None else f'{takeover:.1f}s'} (status.shard), "
        f"{'-' if proof.takeover_audit is None else f'{proof.takeover_audit:.1f}s'} (audit; "
        f"first written by a survivor after "
        f"{'-' if proof.first_taken is None else f'{proof.first_taken:.1f}s'})",
        flush=True,
    )
    print(
        f"    shares by the ring: {dict(sorted(planned.items()))} "
        f"(max deviation from even {_deviation(dict(planned), n):.1f}%); written before the "
        f"kill: {dict(sorted(before.items()))}; after: {dict(sorted(final.items()))} "
        f"(deviation {_deviation({r: final.get(r, 0) for r in survivors}, n):.1f}%)",
        flush=True,
    )
    print(
        f"    audit log: {proof.writes} writes of {proof.apps} Applications by our replicas, "
        f"{proof.by_two} Applications written by two replicas (one after the other), "
        f"{len(proof.violations)} overlaps or interleavings; other writers: {dict(others)}",
        flush=True,
    )
    for violation in proof.violations[:10]:
        print(f"    VIOLATION {violation}")
    results.add(f"sharding N={n}: created -> all Ready, one of 3 killed", OURS, total, "s")
    results.add(f"sharding N={n}: takeover (status.shard)", OURS, takeover, "s")
    results.add(f"sharding N={n}: takeover (audit log)", OURS, proof.takeover_audit, "s")
    results.add(
        f"sharding N={n}: kill -> first of its Applications written by a survivor",
        OURS,
        proof.first_taken,
        "s",
    )
    results.add(
        f"sharding N={n}: max share deviation from even, 3 replicas",
        OURS,
        _deviation(dict(planned), n),
        "%",
    )
    results.add(
        f"sharding N={n}: Applications written by two replicas at once",
        OURS,
        float(len(proof.violations)),
        "",
    )
