"""When the benchmarks' custom resources are Ready, and waiting until they all are."""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from kubernetes import client

from environment import Env


def ready_condition(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's Ready condition, or {} while it has none."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def ready(obj: dict[str, Any], sha: str) -> bool:
    """Ready=True for the current generation at revision ``sha`` (both systems write
    ``status.lastAppliedRevision`` as ``main@sha1:<sha>`` and only after health)."""
    status = obj.get("status") or {}
    condition = ready_condition(obj)
    return bool(
        condition.get("status") == "True"
        and status.get("observedGeneration") == obj["metadata"].get("generation")
        and str(status.get("lastAppliedRevision", "")).endswith(sha)
    )


def repo_ready(obj: dict[str, Any], sha: str) -> bool:
    status = obj.get("status") or {}
    condition = ready_condition(obj)
    revision = str((status.get("artifact") or {}).get("revision", ""))
    return condition.get("status") == "True" and revision.endswith(sha)


def wait_until(
    env: Env,
    what: str,
    count: Callable[[], tuple[int, int, Counter[str]]],
    timeout: float,
    period: float,
) -> float | None:
    """Poll ``count`` (done, total, reasons of the others) until done == total; return
    the seconds waited, or None after ``timeout`` (printing what is missing)."""
    started = time.monotonic()
    last_print = started
    while True:
        done, total, reasons = count()
        now = time.monotonic()
        if done == total:
            return now - started
        if now - started > timeout:
            print(f"    TIMEOUT {what}: {done}/{total} after {timeout:.0f}s: {dict(reasons)}")
            return None
        if now - last_print >= 30:
            print(f"    {what}: {done}/{total} after {now - started:.0f}s", flush=True)
            last_print = now
        time.sleep(period)


def _reasons(objs: list[dict[str, Any]], sha: str) -> tuple[int, Counter[str]]:
    done, reasons = 0, Counter[str]()
    for obj in objs:
        if ready(obj, sha):
            done += 1
            continue
        cond = ready_condition(obj)
        reasons[f"{cond.get('status', 'none')}/{cond.get('reason', '')}"] += 1
    return done, reasons


def wait_apps(env: Env, names: set[str], timeout: float) -> float | None:
    period = 0.25 if len(names) <= 10 else 1.0

    def count() -> tuple[int, int, Counter[str]]:
        objs = [o for o in env.list(env.app_kind) if o["metadata"]["name"] in names]
        done, reasons = _reasons(objs, env.sha)
        reasons["missing"] = len(names) - len(objs)
        return done, len(names), +reasons

    return wait_until(env, "ready", count, timeout, period)


def wait_repository(env: Env, timeout: float = 120) -> None:
    def count() -> tuple[int, int, Counter[str]]:
        with contextlib.suppress(client.ApiException):
            return int(repo_ready(env.get(env.repo_kind, "bench"), env.sha)), 1, Counter()
        return 0, 1, Counter()

    if wait_until(env, "repository", count, timeout, 0.2) is None:
        raise SystemExit("the GitRepository never became Ready")
