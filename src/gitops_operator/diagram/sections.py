"""The parts of the diagram, top to bottom: header, the loop (Git, GitRepository,
Application), the last rollback, the cluster's objects by kind, the legend, the history."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ..api import sha_of, status_fields
from ..api.dependencies import is_application_entry
from ..errors import redact
from ..health import HealthStatus
from ..objects import ObjectRef, apply_order_key
from . import labels, svg
from .svg import (
    BODY,
    BOX_GAP,
    BOX_H,
    BOX_W,
    CODE,
    DRIFT,
    DRIFT_EDGE,
    HEADING,
    HEALTH_FILL,
    INK,
    LINE,
    MARGIN,
    MUTED,
    NOTE,
    PAPER,
    RESULT_FILL,
    TITLE,
    WIDTH,
)

MAX_PER_KIND = 12
"""Objects listed per kind; the rest are summarised as "+N more"."""
COLUMNS = 5


@dataclass(frozen=True, slots=True)
class DiagramObject:
    """One inventoried object: its identity, health (a ``HealthStatus`` value), drift."""

    ref: ObjectRef
    health: str
    drifted: bool = False


def header(root: ET.Element, app: dict[str, Any]) -> float:
    meta, spec = app.get("metadata") or {}, app.get("spec") or {}
    svg.text(root, MARGIN, 38, f"Application {meta.get('name', '?')}", TITLE)
    where = f"namespace {meta.get('namespace', '?')} · path {spec.get('path', '.')}"
    if spec.get("targetNamespace"):
        where += f" → objects in {spec['targetNamespace']}"
    svg.text(root, WIDTH - MARGIN, 38, where, BODY, text_anchor="end")
    return 56


def loop_boxes(root: ET.Element, app: dict[str, Any], repo: dict[str, Any], top: float) -> float:
    """Git → GitRepository → Application, left to right."""
    status = app.get("status") or {}
    repo_spec, repo_status = repo.get("spec") or {}, repo.get("status") or {}
    artifact = repo_status.get(status_fields.ARTIFACT) or {}
    latest = labels.short_sha(str(artifact.get("sha") or ""))
    applied = str(status.get(status_fields.LAST_APPLIED_REVISION) or "")
    xs = [MARGIN + i * (BOX_W + BOX_GAP) for i in range(3)]
    url = redact(str(repo_spec.get("url") or "unknown: GitRepository not found"))
    git_rows = [
        *zip(("url", ""), labels.wrap(url, BOX_W - 98, 11), strict=False),
        ("ref", _ref_text(repo_spec.get("ref") or {})),
        ("applied", labels.short_sha(applied) or "nothing applied yet"),
        ("latest", f"{latest} {artifact.get('message', '')}"),
        ("author", str(artifact.get("author") or "")),
    ]
    git = svg.box(root, xs[0], top, ("Git", "#334e68", "git"), git_rows)
    svg.el(git, "title").text = labels.clean(url)
    ready = _condition(repo_status, "Ready")
    repo_meta = repo.get("metadata") or {}
    repo_rows = [
        ("name", f"{repo_meta.get('namespace', '')}/{repo_meta.get('name', '')}".strip("/")),
        ("READY", f"{ready.get('status', 'Unknown')} {ready.get('reason', '')}"),
        ("last fetch", str(artifact.get("fetchedAt") or "never")),
        ("revision", labels.short_rev(str(artifact.get("revision") or ""))),
        ("interval", str(repo_spec.get("interval") or "1m")),
        ("message", str(ready.get("message") or "")),
    ]
    signed = labels.signed_by(artifact.get("verification"))
    if signed:
        repo_rows.append(("signed", signed))
    accent = "#2f8132" if ready.get("status") == "True" else "#b44d12"
    svg.box(root, xs[1], top, ("GitRepository", accent, "gitrepository"), repo_rows)
    failed = str(status.get(status_fields.FAILED_REVISION) or "")
    app_ready = _condition(status, "Ready")
    app_rows = [
        (
            status_fields.SYNC,
            f"{status.get('sync', 'Unknown')} · health {status.get('health', 'Unknown')}",
        ),
        ("applied", labels.short_rev(applied)),
        ("last good", labels.short_rev(str(status.get(status_fields.LAST_GOOD_REVISION) or ""))),
        ("failed", _failed_text(status)),
        ("READY", f"{app_ready.get('status', 'Unknown')} {app_ready.get('reason', '')}"),
        ("message", str(app_ready.get("message") or "")),
    ]
    if (app.get("spec") or {}).get("suspend"):
        app_rows.insert(0, ("suspended", "yes: nothing is applied"))
    order = _order_text(app, status, app_ready)
    if order:
        app_rows.append(("order", order))
    hooks = _hooks_text(status)
    if hooks:
        app_rows.append((status_fields.HOOKS, hooks))
    bad = failed or status.get(status_fields.HEALTH) == HealthStatus.DEGRADED
    svg.box(
        root, xs[2], top, ("Application", "#b71c1c" if bad else "#1e5aa8", "application"), app_rows
    )
    mid = top + BOX_H / 2
    for x, notes in (
        (xs[0], ("ls-remote", "fetch")),
        (xs[1], (status_fields.ARTIFACT, f"@ {latest}" if latest else "")),
    ):
        svg.arrow(root, (x + BOX_W + 4, mid), (x + BOX_W + BOX_GAP - 4, mid))
        cx = x + BOX_W + BOX_GAP / 2
        for i, label in enumerate(notes):
            svg.text(root, cx, mid - 22 + 12 * i, label, NOTE, text_anchor="middle")
    return top + BOX_H


def rollback_and_arrows(
    root: ET.Element, status: dict[str, Any], objects: list[DiagramObject], top: float
) -> float:
    """The last rollback (if any) under the source boxes; the apply and drift-check arrows
    between the Application and the cluster."""
    band = 84.0
    history = status.get(status_fields.HISTORY) or []
    rollback = next((h for h in history if h.get("result") == "RolledBack"), None)
    if rollback is not None:
        g = svg.el(root, "g", id="rollback")
        width = 2 * BOX_W + BOX_GAP
        svg.rect(g, MARGIN, top + 18, width, 50, fill="#f3e5f5", stroke=RESULT_FILL["RolledBack"])
        line = (
            f"↩ last rollback: {labels.short_rev(str(rollback.get('revision') or ''))} failed,"
            f" rolled back to {labels.short_rev(str(rollback.get('rolledBackTo') or ''))}"
            f" at {labels.short_time(str(rollback.get('finishedAt') or ''))}"
        )
        svg.text(g, MARGIN + 12, top + 38, line, HEADING, width=width - 24)
        why = str(rollback.get("message") or "")
        svg.text(g, MARGIN + 12, top + 57, why, NOTE, width=width - 24)
    center = MARGIN + 2 * (BOX_W + BOX_GAP) + BOX_W / 2
    bottom = top + band
    svg.arrow(root, (center - 40, top + 4), (center - 40, bottom - 4))
    svg.text(root, center - 48, top + band / 2 + 4, "apply (server-side)", NOTE, text_anchor="end")
    drift_check = svg.arrow(root, (center + 40, bottom - 4), (center + 40, top + 4), DRIFT)
    drift_check.set("stroke-dasharray", "6 4")
    drifted = sum(1 for o in objects if o.drifted)
    svg.text(root, center + 48, top + band / 2 - 4, "drift check", NOTE)
    svg.text(root, center + 48, top + band / 2 + 10, f"{drifted} drifted", NOTE)
    return bottom


def cluster(root: ET.Element, objects: list[DiagramObject], top: float) -> float:
    """Objects grouped by kind in apply order, ``MAX_PER_KIND`` per kind at most."""
    g = svg.el(root, "g", id="cluster")
    frame = svg.rect(g, MARGIN, top, WIDTH - 2 * MARGIN, 0, fill="#f2f5f8", stroke="#cbd2d9")
    drifted = sum(1 for o in objects if o.drifted)
    title = f"Cluster · {labels.count(len(objects), 'object')} in the inventory · {drifted} drifted"
    svg.text(g, MARGIN + 12, top + 24, title, HEADING)
    by_kind: dict[str, list[DiagramObject]] = defaultdict(list)
    for obj in sorted(
        objects, key=lambda o: (apply_order_key(o.ref)[:3], labels.natural(o.ref.name))
    ):
        by_kind[obj.ref.kind].append(obj)
    kinds, gap, pad = list(by_kind), 10.0, 12.0
    col_w = (WIDTH - 2 * MARGIN - 2 * pad - (COLUMNS - 1) * gap) / COLUMNS
    y = top + 38
    if not kinds:
        svg.text(g, MARGIN + 12, y + 16, "No objects in the inventory yet.", BODY, fill=MUTED)
        y += 28
    for row in range(0, len(kinds), COLUMNS):
        heights = [
            _kind_card(g, kind, by_kind[kind], MARGIN + pad + i * (col_w + gap), y, col_w)
            for i, kind in enumerate(kinds[row : row + COLUMNS])
        ]
        y += max(heights) + gap
    frame.set("height", labels.num(y + 4 - top))
    return y + 4


def _kind_card(
    parent: ET.Element, kind: str, objs: list[DiagramObject], x: float, y: float, w: float
) -> float:
    shown, more = objs[:MAX_PER_KIND], max(0, len(objs) - MAX_PER_KIND)
    # The kind is never cut: a long one (HorizontalPodAutoscaler) wraps between its words.
    heading = labels.wrap_words(labels.clean(kind), w - 50, float(HEADING["font-size"]))
    top = y + 16 * (len(heading) - 1)
    height = 36 + 24 * len(shown) + (20 if more else 0) + (top - y)
    card = svg.el(parent, "g", **{"class": "kind", "data-kind": kind})
    svg.rect(card, x, y, w, height, fill=PAPER, stroke="#d9e2ec")
    for i, line in enumerate(heading):
        svg.text(card, x + 10, y + 19 + 16 * i, line, {**HEADING, "class": "kind-name"})
    svg.text(card, x + w - 10, y + 19, str(len(objs)), BODY, fill=MUTED, text_anchor="end")
    several_namespaces = len({o.ref.namespace for o in objs}) > 1
    for i, obj in enumerate(shown):
        label = f"{obj.ref.namespace}/{obj.ref.name}" if several_namespaces else obj.ref.name
        _object_pill(card, obj, label, x + 6, top + 28 + 24 * i, w - 12)
    if more:
        svg.text(card, x + 10, top + 41 + 24 * len(shown), f"+{more} more", BODY, fill=MUTED)
    return height


def _object_pill(
    parent: ET.Element, obj: DiagramObject, label: str, x: float, y: float, w: float
) -> None:
    health = _health(obj.health)
    g = svg.el(parent, "g", **{"class": "object"})
    drift = ", drifted from the applied revision" if obj.drifted else ""
    svg.el(g, "title").text = labels.clean(f"{obj.ref}: {health.value}{drift}")
    box = svg.rect(g, x, y, w, 20, rx=4, fill=HEALTH_FILL[health], stroke="#7b8794")
    box.attrib |= {"class": "object-box", "data-object": str(obj.ref), "data-health": health.value}
    badge = 44.0 if obj.drifted else 0.0
    svg.text(g, x + 8, y + 14, label, BODY, width=w - 16 - badge)
    if obj.drifted:
        box.attrib |= {"data-drifted": "true", **DRIFT_EDGE}
        marker = svg.el(g, "g", **{"class": "drift-badge"})
        svg.rect(marker, x + w - badge, y + 3, badge - 4, 14, rx=7, fill=DRIFT)
        style = {**NOTE, "fill": INK, "font-weight": "bold"}
        svg.text(
            marker, x + w - badge / 2 - 2, y + 14, status_fields.DRIFT, style, text_anchor="middle"
        )


def legend(root: ET.Element, top: float) -> float:
    g = svg.el(root, "g", id="legend")
    y, x = top + 22, MARGIN + 56.0
    svg.text(g, MARGIN, y, "Health:", {**BODY, "font-weight": "bold"})
    for health, fill in HEALTH_FILL.items():
        svg.rect(g, x, y - 11, 14, 14, rx=3, fill=fill, stroke="#7b8794")
        svg.text(g, x + 19, y, health.value, BODY)
        x += 32 + 6.6 * len(health.value)
    svg.rect(g, x + 10, y - 11, 28, 14, rx=3, fill=PAPER).attrib.update(DRIFT_EDGE)
    svg.text(g, x + 44, y, "drifted from the applied revision", BODY)
    return y + 8


def timeline(root: ET.Element, history: list[dict[str, Any]], top: float) -> float:
    """One marker per history entry (newest first in status), oldest left."""
    g = svg.el(root, "g", id=status_fields.HISTORY)
    y = top + 26
    title = f"History · {labels.count(len(history), 'entry', 'entries')}, oldest → newest"
    svg.text(g, MARGIN, y, title, HEADING)
    x = WIDTH - MARGIN
    for result, fill in reversed(RESULT_FILL.items()):
        svg.text(g, x, y, result, NOTE, text_anchor="end")
        x -= 7 * len(result) + 6
        svg.el(g, "circle", cx=x, cy=y - 4, r=6, fill=fill)
        x -= 22
    line_y, left, right = y + 52, MARGIN + 40.0, WIDTH - MARGIN - 40.0
    svg.el(
        g, "line", x1=left - 20, y1=line_y, x2=right + 20, y2=line_y, stroke=LINE, stroke_width=2
    )
    if not history:
        svg.text(
            g, WIDTH / 2, line_y + 28, "No history yet.", BODY, fill=MUTED, text_anchor="middle"
        )
        return line_y + 44
    step = (right - left) / len(history)
    every = max(1, math.ceil(64 / step))  # labels alternate sides: >= 128px apart on each
    for i, entry in enumerate(reversed(history)):
        cx, result = left + step * (i + 0.5), str(entry.get("result") or "")
        marker = svg.el(g, "circle", cx=cx, cy=line_y, r=8, stroke=PAPER, stroke_width=2)
        marker.attrib |= {"fill": RESULT_FILL.get(result, "#9e9e9e"), "data-result": result}
        marker.set("class", "history-marker")
        tip = f"{entry.get('revision', '')}: {result} at {entry.get('finishedAt', '')}"
        if entry.get("rolledBackTo"):
            tip += f", rolled back to {entry['rolledBackTo']}"
        svg.el(marker, "title").text = labels.clean(tip)
        if i % every:
            continue
        base = line_y + 26 if (i // every) % 2 == 0 or step * every >= 128 else line_y - 34
        sha = labels.short_sha(str(entry.get("revision") or ""))
        if entry.get("rolledBackTo"):
            sha += f" ↩ {labels.short_sha(str(entry['rolledBackTo']))}"
        svg.text(g, cx, base, sha, CODE, text_anchor="middle")
        when = labels.short_time(str(entry.get("finishedAt") or ""))
        svg.text(g, cx, base + 14, when, NOTE, text_anchor="middle")
    return line_y + 46


def _order_text(app: dict[str, Any], status: dict[str, Any], ready: dict[str, Any]) -> str:
    """``after team/db (waiting) · wave 2 applied, 1 to go``: what the Application waits
    for (spec.dependsOn) and the wave of a revision being applied wave by wave."""
    namespace = (app.get("metadata") or {}).get("namespace", "")
    depends = [
        ("" if is_application_entry(d) else f"{d.get('kind')} ")
        + f"{d.get('namespace') or namespace}/{d['name']}"
        for d in (app.get("spec") or {}).get("dependsOn") or []
        if isinstance(d, dict) and d.get("name")
    ]
    parts = []
    if depends:
        waiting = ready.get("reason") in ("DependencyNotReady", "DependencyCycle")
        parts.append("after " + ", ".join(depends) + (" (waiting)" if waiting else ""))
    wave = status.get(status_fields.SYNC_WAVE)
    if isinstance(wave, dict):
        parts.append(f"wave {wave.get('wave')} applied, {int(wave.get('remaining') or 0)} to go")
    return " · ".join(parts)


def _hooks_text(status: dict[str, Any]) -> str:
    """``PreSync migrate Succeeded · SyncFail notify Running``: the hooks of the revision
    synced last (``status.hooks``), each with where it is."""
    record = status.get(status_fields.HOOKS)
    items = record.get("items") if isinstance(record, dict) else None
    if not isinstance(items, list):
        return ""
    return " · ".join(
        f"{i.get('hook')} {i.get('name')} {i.get('phase')}" for i in items if isinstance(i, dict)
    )


def _failed_text(status: dict[str, Any]) -> str:
    """The failed revision, quarantined. When it is also the last good revision, the
    commit did become healthy once; what failed is applying it again (after a spec
    change or a requested sync), so the SHA is shown once, as last good."""
    failed = str(status.get(status_fields.FAILED_REVISION) or "")
    if not failed:
        return "none"
    good = str(status.get(status_fields.LAST_GOOD_REVISION) or "")
    if good and sha_of(good) == sha_of(failed):
        generation = status.get(status_fields.FAILED_GENERATION)
        at = f" at generation {generation}" if generation else ""
        return f"re-apply{at} failed"
    return f"{labels.short_rev(failed)} (quarantined)"


def _ref_text(ref: dict[str, Any]) -> str:
    for kind in ("commit", "semver", "tag", "branch"):
        if ref.get(kind):
            return f"{kind} {ref[kind]}"
    return "branch main"


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def _health(value: str) -> HealthStatus:
    try:
        return HealthStatus(value)
    except ValueError:
        return HealthStatus.UNKNOWN
