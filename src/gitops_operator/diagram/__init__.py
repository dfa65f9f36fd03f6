"""The live GitOps loop of one Application, drawn as a standalone SVG.

Pure: the Application and GitRepository as the API server returns them, plus the health
of every inventoried object, in; SVG text out. No I/O, no clock, stdlib only. The SVG is
built with ElementTree, so every text is escaped and the document is well-formed; inline
presentation attributes only (no CSS, fonts or scripts), so it renders anywhere.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..api import status_fields
from . import labels, sections, svg
from .sections import MAX_PER_KIND, DiagramObject
from .svg import FONT, HEALTH_FILL, MARGIN, WIDTH

__all__ = ["HEALTH_FILL", "MAX_PER_KIND", "DiagramObject", "render_svg"]


def render_svg(
    application: dict[str, Any], repository: dict[str, Any] | None, objects: list[DiagramObject]
) -> str:
    """The SVG of ``application``'s loop: Git, GitRepository, Application, the cluster
    objects by kind (coloured by health, drift marked), the last rollback and history."""
    root = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "font-family": FONT})
    root.set("width", str(WIDTH))
    svg.el(root, "rect", width="100%", height="100%", fill="#fbfcfd")
    status = application.get("status") or {}
    y = sections.header(root, application)
    y = sections.loop_boxes(root, application, repository or {}, y)
    y = sections.rollback_and_arrows(root, status, objects, y)
    y = sections.cluster(root, objects, y)
    y = sections.legend(root, y)
    height = labels.num(
        sections.timeline(root, list(status.get(status_fields.HISTORY) or []), y) + MARGIN
    )
    root.set("height", height)
    root.set("viewBox", f"0 0 {WIDTH} {height}")
    return ET.tostring(root, encoding="unicode") + "\n"
