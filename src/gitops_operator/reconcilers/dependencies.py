"""Wait for the Applications and objects this one depends on before applying anything new.

Only a sync waits (a new revision, a spec change, a requested sync): what is applied stays
applied, and health and drift are still checked. The controller wakes a waiting
Application when one of its Application dependencies turns Ready, and when an object it
waits for (``apiVersion``/``kind`` entries) changes (``object_watches.py``: a watch of that
object, as the Application's ServiceAccount), so neither wait is a poll. The pass is also
requeued after ``OBJECT_DEPENDENCY_RECHECK`` seconds while an object is not ready: a
safety net for an object the watches do not cover.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..api import API_VERSION, APPLICATION_KIND, GROUP, DependencyRef, status_fields
from ..api.dependencies import ObjectDependency
from ..conditions import ConditionType, ConditionUpdate, failed, get_condition
from ..errors import ApiError, InvalidSpecError, NotFoundError
from ..objects import ObjectRef
from .decisions import dependency_blocker, find_cycle
from .outcome import Event, Outcome
from .readiness import Programs, compile_ready_exprs, object_blocker
from .run import ApplicationRun

DependencyGraph = Mapping[DependencyRef, tuple[DependencyRef, ...]]
Repositories = Mapping[tuple[str, str], dict[str, Any]]
OBJECT_DEPENDENCY_RECHECK = 30.0
"""Seconds after which a dependency object that is not ready is read again, woken or not."""


def check_namespaces(run: ApplicationRun, no_cross_namespace_refs: bool) -> None:
    """Raise ``InvalidSpecError`` (CrossNamespaceRef) when the operator forbids references
    to other namespaces and a ``dependsOn`` entry names one."""
    spec = run.spec
    namespaces = [d.namespace for d in spec.depends_on] + [
        o.namespace for o in spec.depends_on_objects
    ]
    if no_cross_namespace_refs and any(n != run.namespace for n in namespaces):
        raise InvalidSpecError(
            "spec.dependsOn: this operator forbids dependencies in other namespaces",
            reason="CrossNamespaceRef",
        )


def wait_for_dependencies(
    run: ApplicationRun, graph: DependencyGraph, repositories: Repositories
) -> Outcome | None:
    """None when every dependency is ready. Else the outcome of waiting: Ready=False and
    Reconciling=True, reason DependencyNotReady, naming each dependency waited for and
    why; or, in a cycle, Ready=False and Stalled=True, reason DependencyCycle, naming it.
    Neither marks the spec as observed, so the sync happens once the wait is over.

    Dependencies are read with the Application's own rights (its ServiceAccount). A
    ``readyExpr`` that does not compile raises ``InvalidSpecError`` (InvalidDependency)."""
    objects = run.spec.depends_on_objects
    programs = compile_ready_exprs(objects)
    if not run.spec.depends_on and not objects:
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
            obj = run.home_kube.get(API_VERSION, ref)
            blocker = dependency_blocker(obj, _source_revision(obj, repositories))
        except ApiError as exc:
            if exc.code != 403:
                raise
            blocker = "this Application's ServiceAccount may not read it"
        if blocker is not None:
            waiting.append(f"Application {dep}: {blocker}")
    objects_waiting = [w for o in objects if (w := _object_waiting(run, o, programs))]
    waiting += objects_waiting
    if not waiting:
        return None
    message = "waiting for " + "; ".join(waiting)
    updates = [
        ConditionUpdate(ConditionType.READY, False, "DependencyNotReady", message),
        ConditionUpdate(ConditionType.RECONCILING, True, "DependencyNotReady", message),
    ]
    poll = min(run.spec.interval, OBJECT_DEPENDENCY_RECHECK) if objects_waiting else None
    return _waiting(run, updates, message, False, poll)


def _object_waiting(run: ApplicationRun, dep: ObjectDependency, programs: Programs) -> str:
    """What the Application waits for on one object, or "" when it is ready."""
    group = dep.api_version.rpartition("/")[0]
    try:
        obj = run.manager.kube.get(
            dep.api_version, ObjectRef(group, dep.kind, dep.namespace, dep.name)
        )
        blocker = object_blocker(obj, dep, programs)
    except NotFoundError:  # no API resource serves the kind (yet)
        blocker = "no API resource serves this kind (is its CustomResourceDefinition installed?)"
    except ApiError as exc:
        if exc.code != 403:
            raise
        blocker = "forbidden: this Application's ServiceAccount may not read it"
    return f"{dep}: {blocker}" if blocker else ""


def _source_revision(obj: dict[str, Any] | None, repositories: Repositories) -> str | None:
    """The revision a dependency's GitRepository publishes now, as the watch saw it."""
    if obj is None:
        return None
    source = (obj.get("spec") or {}).get("sourceRef") or {}
    namespace = str(source.get("namespace") or obj["metadata"]["namespace"])
    repo = repositories.get((namespace, str(source.get("name", "")))) or {}
    revision = ((repo.get("status") or {}).get(status_fields.ARTIFACT) or {}).get("revision")
    return str(revision) if revision else None


def _waiting(
    run: ApplicationRun,
    updates: list[ConditionUpdate],
    message: str,
    warning: bool,
    poll: float | None = None,
) -> Outcome:
    current = get_condition(run.status.get("conditions") or [], ConditionType.READY) or {}
    repeated = current.get("message") == message
    reason = updates[0].reason
    events = [] if repeated else [Event(reason, message, warning=warning)]
    # the controller wakes this Application when an Application dependency turns Ready
    # or an object it waits for changes; ``poll`` is the safety net of the latter
    return Outcome({}, updates, poll or run.spec.interval, events, observed=False)
