"""Drift: live objects that no longer match the applied revision.

Checked by server-side-apply dry-run of the applied revision's manifests against the live
objects (fields owned by other managers are not drift: the dry-run keeps them). With
``selfHeal`` the drifted objects are applied again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..conditions import ConditionType, ConditionUpdate
from ..live import Live
from ..manager import Drift, ResourceManager
from ..metrics import DRIFTED_OBJECTS
from ..objects import Manifest, ObjectRef
from .outcome import Event, Outcome

if TYPE_CHECKING:
    from .application import ApplicationRun

MAX_OBJECTS = 20
MAX_FIELDS = 10
MAX_VALUE_CHARS = 200


def drift_status(
    manager: ResourceManager,
    run: ApplicationRun,
    desired: list[Manifest],
    live: Mapping[ObjectRef, Live] | None = None,
) -> Outcome:
    """Check drift (against ``live``, the objects already read in this pass, where it
    holds them); correct it when ``spec.selfHeal``. Sets ``status.drift``,
    ``lastDriftCheckAt`` and the Drifted condition."""
    revision = run.status.get("lastAppliedRevision", "")
    drifts = manager.diff_all(desired, run.spec.ignore_differences, live)
    DRIFTED_OBJECTS.labels(run.namespace, run.name).set(len(drifts))
    status: dict[str, Any] = {"lastDriftCheckAt": run.now}
    was_drifted = bool(run.status.get("drift"))
    if not drifts:
        status["drift"] = None
        events = (
            [Event("DriftResolved", f"live objects match {revision} again")] if was_drifted else []
        )
        return Outcome(
            status,
            [
                ConditionUpdate(
                    ConditionType.DRIFTED, False, "NoDrift", f"live objects match {revision}"
                )
            ],
            0,
            events,
        )
    described = describe(drifts)
    if run.spec.self_heal:
        drifted = {d.ref for d in drifts}
        manager.apply_all(
            [m for m in desired if m.ref in drifted],
            ignore=run.spec.ignore_differences,
            before_write=lambda: None,
        )
        DRIFTED_OBJECTS.labels(run.namespace, run.name).set(0)
        status["drift"] = None
        message = f"corrected drift of {len(drifts)} object(s): {described}"
        return Outcome(
            status,
            [ConditionUpdate(ConditionType.DRIFTED, False, "DriftCorrected", message)],
            0,
            [Event("DriftCorrected", message)],
        )
    summary = summarize(drifts)
    status["drift"] = summary
    message = f"{len(drifts)} object(s) differ from {revision}: {described}"
    events = (
        []
        if summary == run.status.get("drift")
        else [Event("DriftDetected", message, warning=True)]
    )
    return Outcome(
        status, [ConditionUpdate(ConditionType.DRIFTED, True, "DriftDetected", message)], 0, events
    )


def describe(drifts: list[Drift]) -> str:
    parts = []
    for d in drifts[:5]:
        what = "missing" if d.missing else ", ".join(c.path for c in d.changes[:3])
        parts.append(f"{d.ref} ({what})")
    return "; ".join(parts) + ("; ..." if len(drifts) > 5 else "")


def summarize(drifts: list[Drift]) -> list[dict[str, Any]]:
    """The bounded ``status.drift`` list; Secret values arrive already masked."""
    return [
        {
            "object": str(d.ref),
            **({"missing": True} if d.missing else {}),
            "fields": [
                {"path": c.path, "desired": _short(c.desired), "live": _short(c.live)}
                for c in d.changes[:MAX_FIELDS]
            ],
        }
        for d in drifts[:MAX_OBJECTS]
    ]


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 3] + "..."
