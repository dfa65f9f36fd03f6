"""Wait for the Applications this one depends on before applying anything new.

Only a sync waits (a new revision, a spec change, a requested sync): what is applied stays
applied, and health and drift are still checked. The controller wakes a waiting
Application when one of its dependencies turns Ready, so the wait is not a poll.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api import API_VERSION, APPLICATION_KIND, GROUP, DependencyRef
from ..conditions import ConditionType, ConditionUpdate, failed, get_condition
from ..errors import ApiError
from ..objects import ObjectRef
from .decisions import dependency_blocker, find_cycle
from .outcome import Event, Outcome
from .run import ApplicationRun

DependencyGraph = Mapping[DependencyRef, tuple[DependencyRef, ...]]
Repositories = Mapping[tuple[str, str], dict[str, Any]]


def wait_for_dependencies(
    run: ApplicationRun, graph: DependencyGraph, repositories: Repositories
) -> Outcome | None:
    """None when every dependency is ready. Else the outcome of waiting: Ready=False and
    Reconciling=True, reason DependencyNotReady, naming each dependency waited for and
    why; or, in a cycle, Ready=False and Stalled=True, reason DependencyCycle, naming it.
    Neither marks the spec as observed, so the sync happens once the wait is over.

    Dependencies are read with the Application's own rights (its ServiceAccount)."""
    if not run.spec.depends_on:
        return None
    me = DependencyRef(run.namespace, run.name)
    cycle = find_cycle(me, {**graph, me: run.spec.depends_on})
    if cycle is not None:
        message = "dependency cycle: " + " -> ".join(f"Application {d}" for d in cycle)
        return _waiting(run, failed("DependencyCycle", message, stalled=True), message, True)
    waiting = []
    for dep in run.spec.depends_on:
        ref = ObjectRef(GROUP, APPLICATION_KIND, dep.namespace, dep.name)
        try:
            obj = run.manager.kube.get(API_VERSION, ref)
            blocker = dependency_blocker(obj, _source_revision(obj, repositories))
        except ApiError as exc:
            if exc.code != 403:
                raise
            blocker = "this Application's ServiceAccount may not read it"
        if blocker is not None:
            waiting.append(f"Application {dep}: {blocker}")
    if not waiting:
        return None
    message = "waiting for " + "; ".join(waiting)
    updates = [
        ConditionUpdate(ConditionType.READY, False, "DependencyNotReady", message),
        ConditionUpdate(ConditionType.RECONCILING, True, "DependencyNotReady", message),
    ]
    return _waiting(run, updates, message, False)


def _source_revision(obj: dict[str, Any] | None, repositories: Repositories) -> str | None:
    """The revision a dependency's GitRepository publishes now, as the watch saw it."""
    if obj is None:
        return None
    source = (obj.get("spec") or {}).get("sourceRef") or {}
    namespace = str(source.get("namespace") or obj["metadata"]["namespace"])
    repo = repositories.get((namespace, str(source.get("name", "")))) or {}
    revision = ((repo.get("status") or {}).get("artifact") or {}).get("revision")
    return str(revision) if revision else None


def _waiting(
    run: ApplicationRun, updates: list[ConditionUpdate], message: str, warning: bool
) -> Outcome:
    current = get_condition(run.status.get("conditions") or [], ConditionType.READY) or {}
    repeated = current.get("message") == message
    reason = updates[0].reason
    events = [] if repeated else [Event(reason, message, warning=warning)]
    # the controller wakes this Application when a dependency turns Ready
    return Outcome({}, updates, run.spec.interval, events, observed=False)
