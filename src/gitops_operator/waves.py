"""Sync waves: the wave of each object, and a revision's objects grouped by wave.

An object's wave is ``gitops-operator.dev/sync-wave``, else Argo CD's
``argocd.argoproj.io/sync-wave``, else 0. Waves are applied in ascending order, each one
healthy before the next; objects left out of a revision are pruned after the last wave,
highest wave first. A wave that is not an integer refuses the whole revision before any
write (Argo CD reads it as 0 instead).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .api import ARGO_SYNC_WAVE_ANNOTATION, SYNC_WAVE_ANNOTATION
from .errors import SyncAnnotationError
from .objects import Manifest, ObjectRef, apply_stage

WAVE_ANNOTATIONS = (SYNC_WAVE_ANNOTATION, ARGO_SYNC_WAVE_ANNOTATION)
"""Where a wave is read, in precedence order."""
MAX_WAVE = 2**31 - 1
_INTEGER = re.compile(r"[+-]?[0-9]{1,10}")
_MAX_LISTED = 5


def declared_wave(annotations: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(annotation, value)`` of the wave an object declares, or None."""
    for key in WAVE_ANNOTATIONS:
        if key in annotations:
            return key, str(annotations[key])
    return None


def parse_wave(value: str) -> int | None:
    """The integer ``value`` spells (``-1``, ``+2``, ``10``), or None."""
    text = value.strip()
    if not _INTEGER.fullmatch(text):
        return None
    wave = int(text)
    return wave if -MAX_WAVE - 1 <= wave <= MAX_WAVE else None


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def live_wave(obj: Mapping[str, Any]) -> int:
    """The wave of an object read from the cluster; 0 when it declares none that can be
    read (a prune must not stop over an annotation someone edited)."""
    declared = declared_wave(_annotations(obj))
    wave = parse_wave(declared[1]) if declared else 0
    return wave if wave is not None else 0


@dataclass(frozen=True, slots=True)
class Waves:
    """A revision's objects by wave. CRDs and Namespaces are applied with the first wave,
    whatever theirs (the staged apply stays first), so they count in every wave's set."""

    by_ref: Mapping[ObjectRef, int]

    @property
    def numbers(self) -> list[int]:
        """The distinct waves of objects applied in waves (not CRDs and Namespaces)."""
        found = {w for ref, w in self.by_ref.items() if apply_stage(ref) != 0}
        return sorted(found) or [0]

    @property
    def single(self) -> bool:
        """Whether the revision applies in one wave, as a revision without waves does."""
        return len(self.numbers) == 1

    @property
    def first(self) -> int:
        return self.numbers[0]

    def after(self, wave: int) -> int | None:
        """The wave applied after ``wave``, or None when ``wave`` is the last."""
        return next((w for w in self.numbers if w > wave), None)

    def remaining(self, wave: int) -> int:
        """How many waves come after ``wave``."""
        return sum(1 for w in self.numbers if w > wave)

    def in_wave(self, wave: int) -> set[ObjectRef]:
        """The objects applied in ``wave`` (CRDs and Namespaces: in none after the first)."""
        return {ref for ref, w in self.by_ref.items() if w == wave and apply_stage(ref) != 0}

    def held_after(self, wave: int) -> set[ObjectRef]:
        """The objects of later waves than ``wave`` (not yet to be written)."""
        return {ref for ref, w in self.by_ref.items() if w > wave and apply_stage(ref) != 0}

    def applied_through(self, wave: int) -> set[ObjectRef]:
        """Every object written once ``wave`` is applied."""
        return set(self.by_ref) - self.held_after(wave)


def waves_of(manifests: Iterable[Manifest]) -> Waves:
    """The wave of every manifest; one ``SyncAnnotationError`` (reason InvalidSyncWave)
    naming each object whose wave is not an integer."""
    by_ref: dict[ObjectRef, int] = {}
    bad: list[str] = []
    for m in manifests:
        declared = declared_wave(_annotations(m.obj))
        if declared is None:
            by_ref[m.ref] = 0
            continue
        wave = parse_wave(declared[1])
        if wave is None:
            value = declared[1] if len(declared[1]) <= 40 else declared[1][:37] + "..."
            bad.append(f"{m.ref} ({m.source}): {declared[0]}={value!r}")
            continue
        by_ref[m.ref] = wave
    if bad:
        more = f"; and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
        raise SyncAnnotationError(
            "nothing applied; a sync wave must be an integer: "
            + "; ".join(bad[:_MAX_LISTED])
            + more,
            reason="InvalidSyncWave",
        )
    return Waves(by_ref)
