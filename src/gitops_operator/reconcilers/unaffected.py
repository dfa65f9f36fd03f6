"""A new commit that changes none of an Application's render inputs is not rendered,
planned or applied: in a monorepo, a commit to one app leaves the thousand others alone.

The inputs are derived from the files themselves (``render.inputs``: the path, every
kustomization, chart and value file the render reaches), the changes from the local Git
mirror (``GitSource.changed_paths``), and the revision is recorded in
``status.unaffectedRevision``, which makes the pass a steady one. Anything not known for
sure means an ordinary sync: a spec change, a sync request, changed postBuild variables,
a revision not yet healthy or still soaking, hooks or waves under way, an input the
analysis does not understand, commits missing from the mirror.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..api import REQUESTED_AT_ANNOTATION, sha_of, status_fields
from ..hooks import HookPhase, HookState, phase_state, recorded
from ..render.inputs import render_inputs, touches
from .decisions import health_check_passed, unaffected_revision, wave_in_progress
from .run import ApplicationRun

ChangedPathsFn = Callable[[str, str, str], frozenset[str] | None]
"""(repository URL, old SHA, new SHA) -> the paths that differ, or None if unknown."""


def unaffected(run: ApplicationRun, changed_paths: ChangedPathsFn) -> dict[str, Any] | None:
    """The ``status.unaffectedRevision`` record when the source's new revision changes
    nothing this Application's applied revision rendered from; else None (sync it)."""
    status = run.status
    applied = str(status.get(status_fields.LAST_APPLIED_REVISION) or "")
    if not _may_skip(run, applied):
        return None
    assert run.artifact is not None  # _may_skip checked
    inputs = render_inputs(run.artifact.path, run.spec.path, run.spec.render)
    if inputs is None:
        return None
    url = str(run.repo_spec.get("url") or "")
    changed = changed_paths(url, sha_of(applied), sha_of(run.revision))
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


def _may_skip(run: ApplicationRun, applied: str) -> bool:
    """Everything but the files allows taking the new revision without a sync: the
    applied revision is settled (same generation, healthy, last good, no waves or hooks
    running) and nothing else asks for a sync."""
    status = run.status
    if not applied or not run.revision or applied == run.revision or run.artifact is None:
        return False
    if unaffected_revision(status) == run.revision or run.inputs_changed:
        return False
    if status.get("observedGeneration") != run.generation:
        return False
    requested = run.annotation(REQUESTED_AT_ANNOTATION)
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
