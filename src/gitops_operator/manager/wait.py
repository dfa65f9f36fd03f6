"""Waiting on objects: the first stage (CRDs Established, Namespaces Active) before the
rest is validated, and the health of everything an Application owns."""

from __future__ import annotations

import time
from collections.abc import Mapping

from ..errors import ApiError, ApplyError, NotFoundError
from ..health import NO_RULES, Health, HealthRules, HealthStatus, assess
from ..inventory import Inventory
from ..kube import KubeClient
from ..live import Live
from ..objects import KubeObject, Manifest, ObjectRef
from .workers import Workers

STAGE_WAIT_TIMEOUT = 30.0


def wait_first_stage(kube: KubeClient, manifests: list[Manifest]) -> None:
    """Wait until every CRD is Established and every Namespace Active."""
    deadline = time.monotonic() + STAGE_WAIT_TIMEOUT
    pending = list(manifests)
    while pending:
        pending = [m for m in pending if not _stage_ready(kube.get(m.api_version, m.ref))]
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(str(m.ref) for m in pending)
            raise ApplyError(f"not ready after {STAGE_WAIT_TIMEOUT:.0f}s: {names}")
        time.sleep(0.2)


def assess_all(
    workers: Workers,
    inventory: Inventory,
    live: Mapping[ObjectRef, Live] | None = None,
    rules: HealthRules = NO_RULES,
) -> list[tuple[ObjectRef, Health]]:
    """The health of every inventoried object (by ``rules`` where one is given for its
    kind): from ``live`` when given, else read from the cluster now."""
    seen = live if live is not None else workers.read(inventory.items())
    results = []
    for ref in sorted(inventory):
        current = seen.get(ref)
        if isinstance(current, ApiError | NotFoundError):
            results.append((ref, Health(HealthStatus.UNKNOWN, str(current))))
        else:
            results.append((ref, assess(current, rules)))
    return results


def _stage_ready(obj: KubeObject | None) -> bool:
    if obj is None:
        return False
    status = obj.get("status") or {}
    if obj.get("kind") == "Namespace":
        return bool(status.get("phase") == "Active")
    return any(
        c.get("type") == "Established" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
