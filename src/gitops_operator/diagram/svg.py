"""Drawing: the palette and type styles, and SVG elements (text, boxes, arrows) built with
ElementTree, so every text is escaped and the document well-formed."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from ..health import HealthStatus
from . import labels

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

BOX_W, BOX_H = 330.0, 172.0
BOX_GAP = (WIDTH - 2 * MARGIN - 3 * BOX_W) / 2
Point = tuple[float, float]
Rows = list[tuple[str, str]]
DRIFT_EDGE = {"stroke": DRIFT, "stroke-dasharray": "5 3", "stroke-width": "2.5"}


def box(root: ET.Element, x: float, y: float, head: tuple[str, str, str], rows: Rows) -> ET.Element:
    """A titled box of ``label  value`` rows; ``head`` is (title, accent colour, id)."""
    title, accent, ident = head
    g = el(root, "g", id=ident)
    rect(g, x, y, BOX_W, BOX_H, fill=PAPER, stroke=accent, stroke_width=1.5)
    rect(g, x, y, BOX_W, 28, fill=accent)
    text(g, x + 12, y + 19, title, HEADING, fill=PAPER)
    for i, (label, value) in enumerate(rows[:7]):
        text(g, x + 12, y + 48 + 20 * i, label, NOTE)
        style = CODE if label in ("url", "", "applied", "revision", "last good") else BODY
        text(g, x + 86, y + 48 + 20 * i, value.strip(), style, width=BOX_W - 98)
    return g


def arrow(root: ET.Element, start: Point, end: Point, color: str = LINE) -> ET.Element:
    (x1, y1), (x2, y2) = start, end
    angle = math.atan2(y2 - y1, x2 - x1)
    line = el(root, "line", x1=x1, y1=y1, x2=x2, y2=y2, stroke=color, stroke_width=2)
    tips = [(x2 - 10 * math.cos(angle + s), y2 - 10 * math.sin(angle + s)) for s in (0.45, -0.45)]
    points = " ".join(f"{labels.num(px)},{labels.num(py)}" for px, py in [(x2, y2), *tips])
    el(root, "polygon", points=points, fill=color)
    return line


def el(parent: ET.Element, tag: str, **attrs: str | float) -> ET.Element:
    """A child element; ``stroke_width=2`` becomes ``stroke-width="2"``."""
    values = {
        k.replace("_", "-"): v if isinstance(v, str) else labels.num(v) for k, v in attrs.items()
    }
    return ET.SubElement(parent, tag, values)


def rect(
    parent: ET.Element, x: float, y: float, w: float, h: float, rx: float = 6, **attrs: str | float
) -> ET.Element:
    return el(parent, "rect", x=x, y=y, width=w, height=h, rx=rx, **attrs)


def text(
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
    full = labels.clean(content)
    size = float(style.get("font-size", "12"))
    shown = labels.fit(full, width, size) if width else full
    node = el(parent, "text", x=x, y=y, **({"fill": INK} | style | attrs))
    node.text = shown
    if shown != full:
        el(node, "title").text = full
    return node
