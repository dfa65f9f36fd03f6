"""The live GitOps loop of one Application, drawn as a standalone SVG.

Pure: the Application and GitRepository as the API server returns them, plus the health
of every inventoried object, in; SVG text out. No I/O, no clock, stdlib only. The SVG is
built with ElementTree, so every text is escaped and the document is well-formed; inline
presentation attributes only (no CSS, fonts or scripts), so it renders anywhere.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from .api import sha_of
from .errors import redact
from .health import HealthStatus
from .objects import ObjectRef, apply_order_key

WIDTH = 1200
MARGIN = 20
MAX_PER_KIND = 12
"""Objects listed per kind; the rest are summarised as "+N more"."""
COLUMNS = 5

FONT = "DejaVu Sans, Verdana, Helvetica, Arial, sans-serif"
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"
INK, MUTED, LINE, PAPER = "#1f2933", "#52606d", "#9aa5b1", "#ffffff"
DRIFT = "#ff8f00"
HEALTH_FILL = {
    HealthStatus.HEALTHY: "#81c784",
    HealthStatus.PROGRESSING: "#64b5f6",
    HealthStatus.DEGRADED: "#e57373",
    HealthStatus.SUSPENDED: "#9e9e9e",
    HealthStatus.MISSING: "#ffb74d",
    HealthStatus.UNKNOWN: "#e0e0e0",
}
RESULT_FILL = {"Succeeded": "#43a047", "Failed": "#e53935", "RolledBack": "#8e24aa"}

Style = dict[str, str]
TITLE: Style = {"font-size": "20", "font-weight": "bold"}
HEADING: Style = {"font-size": "13", "font-weight": "bold"}
BODY: Style = {"font-size": "11.5"}
NOTE: Style = {"font-size": "10.5", "fill": MUTED}
CODE: Style = {"font-size": "11", "font-family": MONO}

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_STAMP = re.compile(r"\d{4}-(\d\d-\d\d)T(\d\d:\d\d)")
_BOX_W, _BOX_H = 330.0, 172.0
_BOX_GAP = (WIDTH - 2 * MARGIN - 3 * _BOX_W) / 2
Point = tuple[float, float]
Rows = list[tuple[str, str]]
_DRIFT_EDGE = {"stroke": DRIFT, "stroke-dasharray": "5 3", "stroke-width": "2.5"}


@dataclass(frozen=True, slots=True)
class DiagramObject:
    """One inventoried object: its identity, health (a ``HealthStatus`` value), drift."""

    ref: ObjectRef
    health: str
    drifted: bool = False


def render_svg(
    application: dict[str, Any], repository: dict[str, Any] | None, objects: list[DiagramObject]
) -> str:
    """The SVG of ``application``'s loop: Git, GitRepository, Application, the cluster
    objects by kind (coloured by health, drift marked), the last rollback and history."""
    root = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "font-family": FONT})
    root.set("width", str(WIDTH))
    _el(root, "rect", width="100%", height="100%", fill="#fbfcfd")
    status = application.get("status") or {}
    y = _header(root, application)
    y = _loop_boxes(root, application, repository or {}, y)
    y = _rollback_and_arrows(root, status, objects, y)
    y = _cluster(root, objects, y)
    y = _legend(root, y)
    height = _num(_timeline(root, list(status.get("history") or []), y) + MARGIN)
    root.set("height", height)
    root.set("viewBox", f"0 0 {WIDTH} {height}")
    return ET.tostring(root, encoding="unicode") + "\n"


# -- sections ------------------------------------------------------------------------------


def _header(root: ET.Element, app: dict[str, Any]) -> float:
    meta, spec = app.get("metadata") or {}, app.get("spec") or {}
    _text(root, MARGIN, 38, f"Application {meta.get('name', '?')}", TITLE)
    where = f"namespace {meta.get('namespace', '?')} · path {spec.get('path', '.')}"
    if spec.get("targetNamespace"):
        where += f" → objects in {spec['targetNamespace']}"
    _text(root, WIDTH - MARGIN, 38, where, BODY, text_anchor="end")
    return 56


def _loop_boxes(root: ET.Element, app: dict[str, Any], repo: dict[str, Any], top: float) -> float:
    """Git → GitRepository → Application, left to right."""
    status = app.get("status") or {}
    repo_spec, repo_status = repo.get("spec") or {}, repo.get("status") or {}
    artifact = repo_status.get("artifact") or {}
    latest = _short_sha(str(artifact.get("sha") or ""))
    applied = str(status.get("lastAppliedRevision") or "")
    xs = [MARGIN + i * (_BOX_W + _BOX_GAP) for i in range(3)]
    url = redact(str(repo_spec.get("url") or "unknown: GitRepository not found"))
    git_rows = [
        *zip(("url", ""), _wrap(url, _BOX_W - 98, 11), strict=False),
        ("ref", _ref_text(repo_spec.get("ref") or {})),
        ("applied", _short_sha(applied) or "nothing applied yet"),
        ("latest", f"{latest} {artifact.get('message', '')}"),
        ("author", str(artifact.get("author") or "")),
    ]
    git = _box(root, xs[0], top, ("Git", "#334e68", "git"), git_rows)
    _el(git, "title").text = _clean(url)
    ready = _condition(repo_status, "Ready")
    repo_meta = repo.get("metadata") or {}
    repo_rows = [
        ("name", f"{repo_meta.get('namespace', '')}/{repo_meta.get('name', '')}".strip("/")),
        ("READY", f"{ready.get('status', 'Unknown')} {ready.get('reason', '')}"),
        ("last fetch", str(artifact.get("fetchedAt") or "never")),
        ("revision", _short_rev(str(artifact.get("revision") or ""))),
        ("interval", str(repo_spec.get("interval") or "1m")),
        ("message", str(ready.get("message") or "")),
    ]
    accent = "#2f8132" if ready.get("status") == "True" else "#b44d12"
    _box(root, xs[1], top, ("GitRepository", accent, "gitrepository"), repo_rows)
    failed = str(status.get("failedRevision") or "")
    app_ready = _condition(status, "Ready")
    app_rows = [
        ("sync", f"{status.get('sync', 'Unknown')} · health {status.get('health', 'Unknown')}"),
        ("applied", _short_rev(applied)),
        ("last good", _short_rev(str(status.get("lastGoodRevision") or ""))),
        ("failed", _failed_text(status)),
        ("READY", f"{app_ready.get('status', 'Unknown')} {app_ready.get('reason', '')}"),
        ("message", str(app_ready.get("message") or "")),
    ]
    if (app.get("spec") or {}).get("suspend"):
        app_rows.insert(0, ("suspended", "yes: nothing is applied"))
    bad = failed or status.get("health") == HealthStatus.DEGRADED
    _box(
        root, xs[2], top, ("Application", "#b71c1c" if bad else "#1e5aa8", "application"), app_rows
    )
    mid = top + _BOX_H / 2
    for x, labels in (
        (xs[0], ("ls-remote", "fetch")),
        (xs[1], ("artifact", f"@ {latest}" if latest else "")),
    ):
        _arrow(root, (x + _BOX_W + 4, mid), (x + _BOX_W + _BOX_GAP - 4, mid))
        cx = x + _BOX_W + _BOX_GAP / 2
        for i, label in enumerate(labels):
            _text(root, cx, mid - 22 + 12 * i, label, NOTE, text_anchor="middle")
    return top + _BOX_H


def _rollback_and_arrows(
    root: ET.Element, status: dict[str, Any], objects: list[DiagramObject], top: float
) -> float:
    """The last rollback (if any) under the source boxes; the apply and drift-check arrows
    between the Application and the cluster."""
    band = 84.0
    history = status.get("history") or []
    rollback = next((h for h in history if h.get("result") == "RolledBack"), None)
    if rollback is not None:
        g = _el(root, "g", id="rollback")
        width = 2 * _BOX_W + _BOX_GAP
        _rect(g, MARGIN, top + 18, width, 50, fill="#f3e5f5", stroke=RESULT_FILL["RolledBack"])
        line = (
            f"↩ last rollback: {_short_rev(str(rollback.get('revision') or ''))} failed,"
            f" rolled back to {_short_rev(str(rollback.get('rolledBackTo') or ''))}"
            f" at {_short_time(str(rollback.get('finishedAt') or ''))}"
        )
        _text(g, MARGIN + 12, top + 38, line, HEADING, width=width - 24)
        why = str(rollback.get("message") or "")
        _text(g, MARGIN + 12, top + 57, why, NOTE, width=width - 24)
    center = MARGIN + 2 * (_BOX_W + _BOX_GAP) + _BOX_W / 2
    bottom = top + band
    _arrow(root, (center - 40, top + 4), (center - 40, bottom - 4))
    _text(root, center - 48, top + band / 2 + 4, "apply (server-side)", NOTE, text_anchor="end")
    drift_check = _arrow(root, (center + 40, bottom - 4), (center + 40, top + 4), DRIFT)
    drift_check.set("stroke-dasharray", "6 4")
    drifted = sum(1 for o in objects if o.drifted)
    _text(root, center + 48, top + band / 2 - 4, "drift check", NOTE)
    _text(root, center + 48, top + band / 2 + 10, f"{drifted} drifted", NOTE)
    return bottom


def _cluster(root: ET.Element, objects: list[DiagramObject], top: float) -> float:
    """Objects grouped by kind in apply order, ``MAX_PER_KIND`` per kind at most."""
    g = _el(root, "g", id="cluster")
    frame = _rect(g, MARGIN, top, WIDTH - 2 * MARGIN, 0, fill="#f2f5f8", stroke="#cbd2d9")
    drifted = sum(1 for o in objects if o.drifted)
    title = f"Cluster · {_count(len(objects), 'object')} in the inventory · {drifted} drifted"
    _text(g, MARGIN + 12, top + 24, title, HEADING)
    by_kind: dict[str, list[DiagramObject]] = defaultdict(list)
    for obj in sorted(objects, key=lambda o: (apply_order_key(o.ref)[:3], _natural(o.ref.name))):
        by_kind[obj.ref.kind].append(obj)
    kinds, gap, pad = list(by_kind), 10.0, 12.0
    col_w = (WIDTH - 2 * MARGIN - 2 * pad - (COLUMNS - 1) * gap) / COLUMNS
    y = top + 38
    if not kinds:
        _text(g, MARGIN + 12, y + 16, "No objects in the inventory yet.", BODY, fill=MUTED)
        y += 28
    for row in range(0, len(kinds), COLUMNS):
        heights = [
            _kind_card(g, kind, by_kind[kind], MARGIN + pad + i * (col_w + gap), y, col_w)
            for i, kind in enumerate(kinds[row : row + COLUMNS])
        ]
        y += max(heights) + gap
    frame.set("height", _num(y + 4 - top))
    return y + 4


def _kind_card(
    parent: ET.Element, kind: str, objs: list[DiagramObject], x: float, y: float, w: float
) -> float:
    shown, more = objs[:MAX_PER_KIND], max(0, len(objs) - MAX_PER_KIND)
    # The kind is never cut: a long one (HorizontalPodAutoscaler) wraps between its words.
    heading = _wrap_words(_clean(kind), w - 50, float(HEADING["font-size"]))
    top = y + 16 * (len(heading) - 1)
    height = 36 + 24 * len(shown) + (20 if more else 0) + (top - y)
    card = _el(parent, "g", **{"class": "kind", "data-kind": kind})
    _rect(card, x, y, w, height, fill=PAPER, stroke="#d9e2ec")
    for i, line in enumerate(heading):
        _text(card, x + 10, y + 19 + 16 * i, line, {**HEADING, "class": "kind-name"})
    _text(card, x + w - 10, y + 19, str(len(objs)), BODY, fill=MUTED, text_anchor="end")
    several_namespaces = len({o.ref.namespace for o in objs}) > 1
    for i, obj in enumerate(shown):
        label = f"{obj.ref.namespace}/{obj.ref.name}" if several_namespaces else obj.ref.name
        _object_pill(card, obj, label, x + 6, top + 28 + 24 * i, w - 12)
    if more:
        _text(card, x + 10, top + 41 + 24 * len(shown), f"+{more} more", BODY, fill=MUTED)
    return height


def _object_pill(
    parent: ET.Element, obj: DiagramObject, label: str, x: float, y: float, w: float
) -> None:
    health = _health(obj.health)
    g = _el(parent, "g", **{"class": "object"})
    drift = ", drifted from the applied revision" if obj.drifted else ""
    _el(g, "title").text = _clean(f"{obj.ref}: {health.value}{drift}")
    box = _rect(g, x, y, w, 20, rx=4, fill=HEALTH_FILL[health], stroke="#7b8794")
    box.attrib |= {"class": "object-box", "data-object": str(obj.ref), "data-health": health.value}
    badge = 44.0 if obj.drifted else 0.0
    _text(g, x + 8, y + 14, label, BODY, width=w - 16 - badge)
    if obj.drifted:
        box.attrib |= {"data-drifted": "true", **_DRIFT_EDGE}
        marker = _el(g, "g", **{"class": "drift-badge"})
        _rect(marker, x + w - badge, y + 3, badge - 4, 14, rx=7, fill=DRIFT)
        style = {**NOTE, "fill": INK, "font-weight": "bold"}
        _text(marker, x + w - badge / 2 - 2, y + 14, "drift", style, text_anchor="middle")


def _legend(root: ET.Element, top: float) -> float:
    g = _el(root, "g", id="legend")
    y, x = top + 22, MARGIN + 56.0
    _text(g, MARGIN, y, "Health:", {**BODY, "font-weight": "bold"})
    for health, fill in HEALTH_FILL.items():
        _rect(g, x, y - 11, 14, 14, rx=3, fill=fill, stroke="#7b8794")
        _text(g, x + 19, y, health.value, BODY)
        x += 32 + 6.6 * len(health.value)
    _rect(g, x + 10, y - 11, 28, 14, rx=3, fill=PAPER).attrib.update(_DRIFT_EDGE)
    _text(g, x + 44, y, "drifted from the applied revision", BODY)
    return y + 8


def _timeline(root: ET.Element, history: list[dict[str, Any]], top: float) -> float:
    """One marker per history entry (newest first in status), oldest left."""
    g = _el(root, "g", id="history")
    y = top + 26
    title = f"History · {_count(len(history), 'entry', 'entries')}, oldest → newest"
    _text(g, MARGIN, y, title, HEADING)
    x = WIDTH - MARGIN
    for result, fill in reversed(RESULT_FILL.items()):
        _text(g, x, y, result, NOTE, text_anchor="end")
        x -= 7 * len(result) + 6
        _el(g, "circle", cx=x, cy=y - 4, r=6, fill=fill)
        x -= 22
    line_y, left, right = y + 52, MARGIN + 40.0, WIDTH - MARGIN - 40.0
    _el(g, "line", x1=left - 20, y1=line_y, x2=right + 20, y2=line_y, stroke=LINE, stroke_width=2)
    if not history:
        _text(g, WIDTH / 2, line_y + 28, "No history yet.", BODY, fill=MUTED, text_anchor="middle")
        return line_y + 44
    step = (right - left) / len(history)
    every = max(1, math.ceil(64 / step))  # labels alternate sides: >= 128px apart on each
    for i, entry in enumerate(reversed(history)):
        cx, result = left + step * (i + 0.5), str(entry.get("result") or "")
        marker = _el(g, "circle", cx=cx, cy=line_y, r=8, stroke=PAPER, stroke_width=2)
        marker.attrib |= {"fill": RESULT_FILL.get(result, "#9e9e9e"), "data-result": result}
        marker.set("class", "history-marker")
        tip = f"{entry.get('revision', '')}: {result} at {entry.get('finishedAt', '')}"
        if entry.get("rolledBackTo"):
            tip += f", rolled back to {entry['rolledBackTo']}"
        _el(marker, "title").text = _clean(tip)
        if i % every:
            continue
        base = line_y + 26 if (i // every) % 2 == 0 or step * every >= 128 else line_y - 34
        sha = _short_sha(str(entry.get("revision") or ""))
        if entry.get("rolledBackTo"):
            sha += f" ↩ {_short_sha(str(entry['rolledBackTo']))}"
        _text(g, cx, base, sha, CODE, text_anchor="middle")
        when = _short_time(str(entry.get("finishedAt") or ""))
        _text(g, cx, base + 14, when, NOTE, text_anchor="middle")
    return line_y + 46


# -- drawing -------------------------------------------------------------------------------


def _box(
    root: ET.Element, x: float, y: float, head: tuple[str, str, str], rows: Rows
) -> ET.Element:
    """A titled box of ``label  value`` rows; ``head`` is (title, accent colour, id)."""
    title, accent, ident = head
    g = _el(root, "g", id=ident)
    _rect(g, x, y, _BOX_W, _BOX_H, fill=PAPER, stroke=accent, stroke_width=1.5)
    _rect(g, x, y, _BOX_W, 28, fill=accent)
    _text(g, x + 12, y + 19, title, HEADING, fill=PAPER)
    for i, (label, value) in enumerate(rows[:7]):
        _text(g, x + 12, y + 48 + 20 * i, label, NOTE)
        style = CODE if label in ("url", "", "applied", "revision", "last good") else BODY
        _text(g, x + 86, y + 48 + 20 * i, value.strip(), style, width=_BOX_W - 98)
    return g


def _arrow(root: ET.Element, start: Point, end: Point, color: str = LINE) -> ET.Element:
    (x1, y1), (x2, y2) = start, end
    angle = math.atan2(y2 - y1, x2 - x1)
    line = _el(root, "line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=color, stroke_width=2)
    tips = [(x2 - 10 * math.cos(angle + s), y2 - 10 * math.sin(angle + s)) for s in (0.45, -0.45)]
    points = " ".join(f"{_num(px)},{_num(py)}" for px, py in [(x2, y2), *tips])
    _el(root, "polygon", points=points, fill=color)
    return line


def _el(parent: ET.Element, tag: str, **attrs: str | float) -> ET.Element:
    """A child element; ``stroke_width=2`` becomes ``stroke-width="2"``."""
    values = {k.replace("_", "-"): v if isinstance(v, str) else _num(v) for k, v in attrs.items()}
    return ET.SubElement(parent, tag, values)


def _rect(
    parent: ET.Element, x: float, y: float, w: float, h: float, rx: float = 6, **attrs: str | float
) -> ET.Element:
    return _el(parent, "rect", x=x, y=y, width=w, height=h, rx=rx, **attrs)


def _text(
    parent: ET.Element,
    x: float,
    y: float,
    content: str,
    style: Style,
    *,
    width: float | None = None,
    **attrs: str | float,
) -> ET.Element:
    """A line of text; with ``width``, cut to fit with "…" and the full text as tooltip."""
    full = _clean(content)
    size = float(style.get("font-size", "12"))
    shown = _fit(full, width, size) if width else full
    el = _el(parent, "text", x=x, y=y, **({"fill": INK} | style | attrs))
    el.text = shown
    if shown != full:
        _el(el, "title").text = full
    return el


# -- text ----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """Credentials redacted, characters XML 1.0 cannot hold removed, one line."""
    return _ILLEGAL_XML.sub("", redact(text)).replace("\n", " ").strip()


def _wrap(text: str, width: float, size: float) -> list[str]:
    """One line, or two broken after a ``/`` (or anywhere) if it does not fit."""
    limit = max(1, int(width / (0.6 * size)))
    if len(text) <= limit:
        return [text]
    cut = text.rfind("/", 0, limit) + 1 or limit
    return [text[:cut], text[cut:]]


_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def _wrap_words(text: str, width: float, size: float) -> list[str]:
    """``text`` in as many lines as it takes, broken between CamelCase words (or, for a
    word longer than a line, inside it): nothing is left out."""
    limit = max(1, int(width / (0.6 * size)))
    lines: list[str] = []
    for word in _WORD_START.split(text):
        for piece in (word[i : i + limit] for i in range(0, len(word), limit)):
            if lines and len(lines[-1]) + len(piece) <= limit:
                lines[-1] += piece
            else:
                lines.append(piece)
    return lines or [""]


def _natural(name: str) -> list[str | int]:
    """``web-2`` before ``web-10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _fit(text: str, width: float, size: float) -> str:
    # DejaVu Sans averages about 0.6em per character: close enough to avoid overflow.
    limit = max(1, int(width / (0.6 * size)))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _short_sha(revision: str) -> str:
    return sha_of(revision)[:7]


def _short_rev(revision: str) -> str:
    """``main@sha1:<sha>`` -> ``main@<sha[:7]>``; empty -> ``none``."""
    if not revision:
        return "none"
    name = revision.partition("@")[0] if "@" in revision else ""
    return f"{name}@{_short_sha(revision)}" if name else _short_sha(revision)


def _short_time(stamp: str) -> str:
    match = _STAMP.match(stamp)
    return f"{match.group(1)} {match.group(2)}" if match else stamp


def _failed_text(status: dict[str, Any]) -> str:
    """The failed revision, quarantined. When it is also the last good revision, the
    commit did become healthy once; what failed is applying it again (after a spec
    change or a requested sync), so the SHA is shown once, as last good."""
    failed = str(status.get("failedRevision") or "")
    if not failed:
        return "none"
    good = str(status.get("lastGoodRevision") or "")
    if good and sha_of(good) == sha_of(failed):
        generation = status.get("failedGeneration")
        at = f" at generation {generation}" if generation else ""
        return f"re-apply{at} failed"
    return f"{_short_rev(failed)} (quarantined)"


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
