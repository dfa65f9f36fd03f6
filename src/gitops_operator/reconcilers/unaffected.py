"""A new commit that changes none of an Application's render inputs is not rendered,
planned or applied: in a monorepo, a commit to one app leaves the thousand others alone.

The inputs are derived from the files themselves (``render.inputs``: the path, every
kustomization, chart and value file the render reaches), the changes from the local Git
mirror (``GitSource.changed_paths``), and the revision is recorded in
``status.unaffectedRevision``, which makes the pass a steady one. Anything not known for
sure means an ordinary sync: a spec change, a sync request, changed postBuild variables,
a revision not yet healthy or still soaking, hooks or waves under way, an input the
analysis does not understand, commits missing from the mirror.

The same decision is made once more, earlier and for all Applications of a repository at
once, where a new commit's wake-ups are sent (``to_wake``): from the inputs each settled
Application's last pass found (``InputsSeen``) and the state its last watch event showed
(``Settled``). Only the Applications the commit may change are woken; the others take the
revision at their next scheduled pass (within ``min(interval, driftInterval)``), which
records it in the status write of the drift check due then: a one-app commit costs one
render, not a pass per Application. An Application woken for it (one that others
depend on, a sync request) records it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..api import REQUESTED_AT_ANNOTATION, DependencyRef, sha_of, status_fields
from ..conditions import ConditionType, get_condition, ready
from ..hooks import HookPhase, HookState, phase_state, recorded
from ..render.inputs import render_inputs, touches
from .decisions import health_check_passed, unaffected_revision, wave_in_progress
from .outcome import Outcome, applied_message
from .run import ApplicationRun

ChangedPathsFn = Callable[[str, str, str], frozenset[str] | None]
"""(repository URL, old SHA, new SHA) -> the paths that differ, or None if unknown."""
Key = tuple[str, str]  # namespace, name


@dataclass(frozen=True, slots=True)
class InputsSeen:
    """What an Application's render read in the tree of ``tree_sha`` of ``url``, at
    ``generation``: valid while that tree is its applied or unaffected revision."""

    url: str
    tree_sha: str
    generation: int
    inputs: frozenset[str]


@dataclass(frozen=True, slots=True)
class Settled:
    """An Application whose applied revision is settled (``_settled``), as its last watch
    event showed it: the SHAs its objects are known to render from."""

    generation: int
    applied_sha: str
    current_shas: frozenset[str]


def unaffected(
    run: ApplicationRun, changed_paths: ChangedPathsFn, seen: dict[Key, InputsSeen]
) -> dict[str, Any] | None:
    """The ``status.unaffectedRevision`` record when the source's new revision changes
    nothing this Application's applied revision rendered from; else None (sync it)."""
    status = run.status
    applied = str(status.get(status_fields.LAST_APPLIED_REVISION) or "")
    if not _may_skip(run, applied):
        return None
    inputs = _inputs(run, seen)
    if inputs is None:
        return None
    changed = changed_paths(
        str(run.repo_spec.get("url") or ""), sha_of(applied), sha_of(run.revision)
    )
    if changed is None or touches(inputs, changed):
        return None
    run.logger.info(
        "revision %s changes none of the %d inputs of %s: not rendered",
        run.revision,
        len(inputs),
        applied,
    )
    return {
        status_fields.UNAFFECTED_REVISION: {
            "revision": run.revision,
            "appliedRevision": applied,
            "checkedAt": run.now,
        }
    }


def record_pass(run: ApplicationRun, record: dict[str, Any]) -> Outcome:
    """The pass that records an unaffected revision: nothing is read or applied (health and
    drift keep their own cadence); a Ready Application says which revision is current."""
    now_ready = get_condition(run.status.get("conditions") or [], ConditionType.READY) or {}
    applied = str(record[status_fields.UNAFFECTED_REVISION]["appliedRevision"])
    updates = (
        ready(applied_message(run.revision, applied)) if now_ready.get("status") == "True" else []
    )
    return Outcome(record, updates, min(run.spec.interval, run.spec.drift_interval))


def remember_inputs(run: ApplicationRun, seen: dict[Key, InputsSeen]) -> None:
    """Keep what the render of this pass's tree reads (computed once per tree and
    generation), or forget it when that is not known for sure."""
    if run.artifact is None or not run.revision or run.inputs_changed:
        seen.pop((run.namespace, run.name), None)
    else:
        _inputs(run, seen)


def _inputs(run: ApplicationRun, seen: dict[Key, InputsSeen]) -> frozenset[str] | None:
    """What the render of this pass's tree reads, from ``seen`` when it was found for the
    same tree and generation, else derived (``render_inputs``) and kept there."""
    assert run.artifact is not None  # the callers checked
    key, url = (run.namespace, run.name), str(run.repo_spec.get("url") or "")
    known = seen.get(key)
    if known and (known.url, known.tree_sha, known.generation) == (
        url,
        run.artifact.sha,
        run.generation,
    ):
        return known.inputs
    inputs = render_inputs(run.artifact.path, run.spec.path, run.spec.render)
    if inputs is None:
        seen.pop(key, None)
    else:
        seen[key] = InputsSeen(url, run.artifact.sha, run.generation, inputs)
    return inputs


def settled_state(body: Mapping[str, Any]) -> Settled | None:
    """The Application as a watch event shows it, when a commit that changes none of its
    inputs need not wake it: its applied revision is settled and nothing asks for a pass."""
    meta = body.get("metadata") or {}
    status = dict(body.get("status") or {})
    applied = str(status.get(status_fields.LAST_APPLIED_REVISION) or "")
    annotations = meta.get("annotations") or {}
    requested = str(annotations.get(REQUESTED_AT_ANNOTATION) or "")
    generation = int(meta.get("generation") or 0)
    if (body.get("spec") or {}).get("suspend") or not _settled(
        status, applied, generation, requested
    ):
        return None
    unaffected = unaffected_revision(status)
    shas = {sha_of(applied), *([sha_of(unaffected)] if unaffected else [])}
    return Settled(generation, sha_of(applied), frozenset(shas))


def to_wake(
    apps: Iterable[Key],
    url: str,
    new_sha: str,
    states: Mapping[Key, Settled],
    seen: Mapping[Key, InputsSeen],
    depends_on: Mapping[DependencyRef, Collection[DependencyRef]],
    changed_paths: ChangedPathsFn,
) -> list[Key]:
    """The Applications of a repository that its new commit ``new_sha`` may change, and
    those they depend on (a dependent waits for them to be at the commit): the others
    are left to take it at their next pass."""
    wake: set[Key] = set()
    left: set[Key] = set()
    for app in apps:
        state, inputs = states.get(app), seen.get(app)
        if (
            state is None
            or inputs is None
            or inputs.url != url
            or inputs.generation != state.generation
            or inputs.tree_sha not in state.current_shas
            or new_sha in state.current_shas
        ):
            wake.add(app)
            continue
        changed = changed_paths(url, state.applied_sha, new_sha)
        (wake if changed is None or touches(inputs.inputs, changed) else left).add(app)
    pending = list(wake)
    while pending:  # what the woken wait for, transitively
        ref = DependencyRef(*pending.pop())
        for dependency in depends_on.get(ref, ()):
            key = (dependency.namespace, dependency.name)
            if key in left:
                left.discard(key)
                wake.add(key)
                pending.append(key)
    return sorted(wake)


def _may_skip(run: ApplicationRun, applied: str) -> bool:
    """Everything but the files allows taking the new revision without a sync: the
    applied revision is settled (same generation, healthy, last good, no waves or hooks
    running) and nothing else asks for a sync."""
    status = run.status
    if not applied or not run.revision or applied == run.revision or run.artifact is None:
        return False
    if unaffected_revision(status) == run.revision or run.inputs_changed:
        return False
    return _settled(status, applied, run.generation, run.annotation(REQUESTED_AT_ANNOTATION))


def _settled(status: dict[str, Any], applied: str, generation: int, requested: str) -> bool:
    """The applied revision is settled at this generation (healthy, last good, no waves
    or hooks running) and no sync request is pending."""
    if not applied or status.get("observedGeneration") != generation:
        return False
    if requested and requested != status.get(status_fields.LAST_HANDLED_RECONCILE_AT):
        return False
    if not health_check_passed(status) or status.get(status_fields.LAST_GOOD_REVISION) != applied:
        return False
    if wave_in_progress(status, applied) is not None:
        return False
    items = recorded(status.get(status_fields.HOOKS), applied) or []
    return all(
        phase_state(items, phase) in (HookState.SUCCEEDED, HookState.FAILED)
        for phase in (HookPhase.PRE_SYNC, HookPhase.SYNC, HookPhase.POST_SYNC)
    )
