"""Scenario monorepo: N Applications (Kustomizations) of one repository, the mttp shape,
all Ready; then

(a) a full pass: one commit that changes every app's Deployment (an annotation);
(b) ``runs`` commits that each touch one app: until that app applied it and every other
    app is at the new revision (applied it, or, ours, recorded in
    ``status.unaffectedRevision`` that it changes none of its inputs: ours wakes only the
    touched app, the others record it at their next scheduled pass, within driftInterval);
    the controllers' CPU is also given net of their idle rate (measured over IDLE seconds
    just before the commit), until the touched app is Ready and until all are at it;
(c) ours: ``runs`` commits touching one app, each announced by a signed GitHub push
    delivery to the operator's webhook receiver: delivery -> that app applied.

(a) and (b) are started the same way for both systems, the GitRepository's requestedAt
annotation (its poll interval is long, 10m by default), and measured with the
controllers' CPU and the API requests of all clients. The headline is (b)'s controller
CPU as a share of (a)'s."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client

import flux
from environment import (
    FLUX,
    NAMESPACE,
    OURS,
    WEBHOOK_SECRET,
    Env,
    Options,
    create_all,
    environment,
)
from gitops_operator.api import REQUESTED_AT_ANNOTATION
from manifests import commit_files, mttp_files, podinfo
from readiness import ready, ready_condition, wait_apps, wait_until
from results import Results

GITHUB_SECRET = "bench-github-webhook-secret"
IDLE = 60.0
"""Seconds of idle controller CPU measured before each commit (its baseline): one
driftInterval of the product defaults, so the idle window holds every app's drift check."""


@dataclass
class Pass:
    """One commit, measured: wall seconds until done (None: timed out), until the touched
    apps' lastAppliedRevision was it, controller and control-plane CPU seconds, API
    requests, and how the other apps took it (applied again, or recorded as unaffected)."""

    wall: float | None
    touched: float | None
    cpu: float
    plane: float
    requests: float
    applied: int
    unaffected: int
    net_touched: float | None = None
    """Controller CPU until the touched apps were Ready, net of the idle rate."""
    net_all: float | None = None
    """Controller CPU until every app was at the commit, net of the idle rate."""


def changed(index: int, mark: str) -> str:
    """App ``index``'s files with an annotation ``mark`` on its Deployment."""
    return podinfo(index).replace(
        "kind: Deployment\nmetadata:\n",
        f'kind: Deployment\nmetadata:\n  annotations:\n    bench/change: "{mark}"\n',
        1,
    )


def applied_at(obj: dict[str, Any], sha: str) -> bool:
    """``status.lastAppliedRevision`` is ``sha`` (written once applied, before health)."""
    return str((obj.get("status") or {}).get("lastAppliedRevision", "")).endswith(sha)


def unaffected_at(obj: dict[str, Any], sha: str) -> bool:
    """Ours: ``sha`` recorded as changing none of the app's inputs, for the revision it
    still has applied, and still Ready."""
    status = obj.get("status") or {}
    record = status.get("unaffectedRevision") or {}
    return bool(
        str(record.get("revision", "")).endswith(sha)
        and record.get("appliedRevision") == status.get("lastAppliedRevision")
        and ready_condition(obj).get("status") == "True"
    )


def request_fetch(env: Env, value: str) -> None:
    """Ask the GitRepository to fetch now (each system's requestedAt annotation)."""
    key = flux.REQUESTED_AT if env.system == FLUX else REQUESTED_AT_ANNOTATION
    group, version, plural = env.repo_kind
    client.CustomObjectsApi(env.api).patch_namespaced_custom_object(
        group,
        version,
        NAMESPACE,
        plural,
        "bench",
        {"metadata": {"annotations": {key: value}}},
        _request_timeout=30,
    )


def wait_revision(
    env: Env,
    names: list[str],
    touched: set[str],
    sha: str,
    timeout: float,
    on_touched_ready: Callable[[], None] | None = None,
) -> tuple[float | None, float | None, int, int]:
    """Until the ``touched`` apps are Ready at ``sha`` (then ``on_touched_ready`` is
    called once) and every other app is at it; returns (seconds, seconds until the
    touched ones' lastAppliedRevision was it, others applied at ``sha``, others recorded
    as unaffected)."""
    started = time.monotonic()
    seen: dict[str, float] = {}
    tally = Counter[str]()

    def count() -> tuple[int, int, Counter[str]]:
        objs = {o["metadata"]["name"]: o for o in env.list(env.app_kind)}
        done, reasons = 0, Counter[str]()
        tally.clear()
        for name in names:
            obj = objs.get(name)
            if obj is None:
                reasons["missing"] += 1
            elif ready(obj, sha):
                done += 1
                tally["applied" if name not in touched else "touched"] += 1
            elif name not in touched and unaffected_at(obj, sha):
                done += 1
                tally["unaffected"] += 1
            else:
                cond = ready_condition(obj)
                reasons[f"{cond.get('status', 'none')}/{cond.get('reason', '')}"] += 1
        applied = sum(1 for m in touched if m in objs and applied_at(objs[m], sha))
        if applied == len(touched) and "applied" not in seen:
            seen["applied"] = time.monotonic() - started
        if "ready" not in seen and all(m in objs and ready(objs[m], sha) for m in touched):
            seen["ready"] = time.monotonic() - started
            if on_touched_ready is not None:
                on_touched_ready()
        return done, len(names), reasons

    period = 0.1 if len(names) <= 50 else 0.5
    waited = wait_until(env, f"at {sha[:8]}", count, timeout, period)
    return waited, seen.get("applied"), tally["applied"], tally["unaffected"]


def measure(
    env: Env, names: list[str], files: dict[str, str], touched: set[str], label: str
) -> Pass:
    """Commit ``files``, ask for a fetch, and wait until every app is at the commit."""
    sha = commit_files(env.work / "git", files, label)
    idle0, idle_at = env.cpu(), time.monotonic()
    time.sleep(IDLE)
    idle1, idle_for = env.cpu(), time.monotonic() - idle_at
    rate = sum(idle1[k] - idle0[k] for k in env.procs) / idle_for
    marks: dict[str, Any] = {}

    def touched_ready() -> None:
        marks["cpu"], marks["at"] = env.cpu(), time.monotonic()

    with env.counting():
        cpu0, at0 = env.cpu(), time.monotonic()
        request_fetch(env, f"{datetime.now(UTC).isoformat()}-{label}")
        wall, first, applied, skipped = wait_revision(
            env, names, touched, sha, env.opts.timeout, touched_ready
        )
        cpu1, at1 = env.cpu(), time.monotonic()
    env.sha = sha
    controllers = sum(cpu1[k] - cpu0[k] for k in env.procs)
    net_touched = None
    if marks:
        used = sum(marks["cpu"][k] - cpu0[k] for k in env.procs)
        net_touched = used - rate * (marks["at"] - at0)
    return Pass(
        wall,
        first,
        controllers,
        cpu1["control-plane"] - cpu0["control-plane"],
        env.last_requests.total(),
        applied,
        skipped,
        net_touched,
        controllers - rate * (at1 - at0),
    )


def github_push(url: str, sha: str) -> tuple[bytes, dict[str, str]]:
    """A GitHub push delivery of ``sha`` to main of ``url``, signed as GitHub signs it
    (X-Hub-Signature-256: the body's HMAC-SHA256 under the receiver's secret)."""
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": sha,
            "repository": {"clone_url": url, "html_url": url.removesuffix(".git")},
        }
    ).encode()
    digest = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def deliver(env: Env, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{env.webhook_port}/hooks/github",
        data=body,
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""


def push_once(env: Env, names: list[str], index: int, label: str) -> tuple[float, float] | None:
    """Commit to app ``index`` and deliver its push; seconds until that app's
    lastAppliedRevision is the commit, and until it is Ready at it (then wait, unmeasured,
    until every app is at the commit)."""
    name = f"app-{index}"
    sha = commit_files(
        env.work / "git", {f"apps/{name}/podinfo.yaml": changed(index, label)}, label
    )
    body, headers = github_push(env.server.url("bench.git"), sha)
    started = time.monotonic()
    status, answer = deliver(env, body, headers)
    if status != 202 or json.loads(answer or "{}").get("triggered") != 1:
        print(f"    push {label}: the receiver answered {status} {answer!r}")
        return None
    applied = None
    while time.monotonic() - started < env.opts.timeout:
        obj = env.get(env.app_kind, name)
        if applied is None and applied_at(obj, sha):
            applied = time.monotonic() - started
        if ready(obj, sha):
            healthy = time.monotonic() - started
            wait_revision(env, names, {name}, sha, env.opts.timeout)
            env.sha = sha
            return applied or healthy, healthy
        time.sleep(0.01)
    print(f"    push {label}: {name} not Ready at {sha[:8]} after {env.opts.timeout:.0f}s")
    return None


def receiver_secret(env: Env) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": WEBHOOK_SECRET, "namespace": NAMESPACE},
        "data": {"github": base64.b64encode(GITHUB_SECRET.encode()).decode()},
    }


def bench_monorepo(systems: list[str], n: int, runs: int, opts: Options, results: Results) -> None:
    files = mttp_files(n)
    names = [f"app-{i}" for i in range(n)]
    for system in systems:
        mono = Options(**{**opts.__dict__, "webhook": system == OURS})
        with environment(system, f"monorepo{n}-{system}", files, mono) as env:
            objects = [env.repository()] + [
                env.application(name, f"apps/{name}", NAMESPACE, "5m") for name in names
            ]
            if system == OURS:
                objects.append(receiver_secret(env))
            create_all(env, objects)
            setup = wait_apps(env, set(names), opts.timeout)
            if setup is None:
                print(f"  monorepo n={n} {system}: never all Ready; skipped")
                continue
            print(f"  monorepo n={n} {system}: all Ready after {setup:.1f}s", flush=True)
            _measure_system(env, n, names, runs, results)


def _measure_system(env: Env, n: int, names: list[str], runs: int, results: Results) -> None:
    system, key = env.system, f"monorepo N={n}"
    full = measure(
        env,
        names,
        {f"apps/{m}/podinfo.yaml": changed(i, "full") for i, m in enumerate(names)},
        set(names),
        "full",
    )
    _print(f"{key} {system} (a) full pass", full, n)
    env.print_requests(n, "app")
    results.add(f"{key}: (a) full pass, commit -> all applied", system, full.wall, "s")
    results.add(f"{key}: (a) full pass, controller CPU", system, full.cpu, "s")
    results.add(f"{key}: (a) full pass, API requests per app", system, full.requests / n, "")
    ones: list[Pass] = []
    for run in range(runs):
        index = (run * 37 + n // 2) % n
        one = measure(
            env,
            names,
            {f"apps/app-{index}/podinfo.yaml": changed(index, f"one-{run}")},
            {f"app-{index}"},
            f"one-{run}",
        )
        _print(f"{key} {system} (b) run {run}, app-{index}", one, n)
        env.print_requests(1, "commit")
        ones.append(one)
        results.add(f"{key}: (b) one-app commit -> all at it", system, one.wall, "s")
        results.add(
            f"{key}: (b) one-app commit -> its lastAppliedRevision", system, one.touched, "s"
        )
        results.add(f"{key}: (b) one-app commit, controller CPU", system, one.cpu, "s")
        results.add(
            f"{key}: (b) one-app commit, CPU net of idle, until it is Ready",
            system,
            one.net_touched,
            "s",
        )
        results.add(
            f"{key}: (b) one-app commit, CPU net of idle, until all at it", system, one.net_all, "s"
        )
        results.add(f"{key}: (b) one-app commit, API requests", system, one.requests, "")
        results.add(f"{key}: (b) one-app commit, other apps applied again", system, one.applied, "")
    for what, values in (
        ("controller CPU", [p.cpu for p in ones]),
        ("CPU net of idle until it is Ready", [p.net_touched for p in ones]),
        ("CPU net of idle until all at it", [p.net_all for p in ones]),
    ):
        known = [v for v in values if v is not None]
        if not known or not full.cpu:
            continue
        cpu = statistics.median(known)
        share = 100 * cpu / full.cpu
        print(
            f"  {key} {system}: (b)/(a) {what} {share:.2f} % (median {cpu:.2f}s of "
            f"{full.cpu:.2f}s{'; target <= 2 %' if system == OURS else ''})"
        )
        results.add(f"{key}: (b)/(a) {what}, one-app commit / full pass", system, share, "%")
    if system == OURS:
        _measure_pushes(env, n, names, runs, results)


def _measure_pushes(env: Env, n: int, names: list[str], runs: int, results: Results) -> None:
    key = f"monorepo N={n}"
    latencies = []
    for run in range(runs):
        index = (run * 53 + n // 3) % n
        took = push_once(env, names, index, f"push-{run}")
        shown = "TIMEOUT" if took is None else f"applied {took[0]:.3f}s, Ready {took[1]:.3f}s"
        print(f"  {key} ours (c) push {run}, app-{index}: delivery -> {shown}", flush=True)
        results.add(f"{key}: (c) push webhook -> lastAppliedRevision", OURS, took and took[0], "s")
        results.add(f"{key}: (c) push webhook -> Ready at it", OURS, took and took[1], "s")
        if took is not None:
            latencies.append(took[0])
    if latencies:
        median = statistics.median(latencies)
        print(f"  {key} ours (c): delivery -> applied, median {median:.3f}s (target < 0.5 s)")


def _print(what: str, p: Pass, n: int) -> None:
    wall = "TIMEOUT" if p.wall is None else f"{p.wall:.2f}s"
    touched = "-" if p.touched is None else f"{p.touched:.2f}s"
    print(
        f"  {what}: all at it in {wall} (touched: lastAppliedRevision in {touched}); "
        f"CPU controllers {p.cpu:.2f}s (net of idle: {_seconds(p.net_touched)} until the "
        f"touched Ready, {_seconds(p.net_all)} until all), apiserver+etcd {p.plane:.2f}s; "
        f"{p.requests:.0f} API requests; "
        f"others: {p.applied} applied again, {p.unaffected} unaffected (of {n})",
        flush=True,
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"
