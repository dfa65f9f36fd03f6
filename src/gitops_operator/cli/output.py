"""What the CLI prints: aligned tables for people, JSON and YAML for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, TextIO

import yaml

from ..api import sha_of
from ..diff_report import value_text as value_text

MAX_CELL = 80
"""Table cells longer than this are cut with "…" (``-o json`` and ``-o yaml`` keep all)."""


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    YAML = "yaml"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, three spaces apart, like ``kubectl get``."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    lines = [
        "   ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *cells]
    ]
    return "\n".join(lines) + "\n"


def format_fields(pairs: Sequence[tuple[str, Any]]) -> str:
    """``Label:  value`` lines, values aligned, like ``kubectl describe``."""
    width = max((len(label) for label, _ in pairs), default=0) + 2
    lines = [f"{(label + ':').ljust(width)}{_cell(value, limit=0)}" for label, value in pairs]
    return "".join(line.rstrip() + "\n" for line in lines)


def dump(data: Any, output: OutputFormat) -> str:
    """``data`` as indented JSON or as YAML (block style, keys in their given order)."""
    if output is OutputFormat.JSON:
        return json.dumps(data, indent=2, default=str) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def emit(
    data: Any, output: OutputFormat, table: Callable[[], str], *, out: TextIO | None = None
) -> None:
    """Print ``data`` as JSON or YAML, or ``table()`` for people."""
    stream = out or sys.stdout
    stream.write(table() if output is OutputFormat.TABLE else dump(data, output))


def short_revision(revision: str, length: int = 12) -> str:
    """``main@sha1:<40 hex>`` -> ``main@sha1:<12 hex>`` for tables; empty stays empty."""
    if "sha1:" not in revision:
        return revision
    return revision[: revision.rfind("sha1:") + 5] + sha_of(revision)[:length]


def changes_text(changes: dict[str, Any] | None) -> str:
    """``{"created": 2, "configured": 1}`` -> ``2 created, 1 configured``."""
    return ", ".join(f"{n} {action}" for action, n in (changes or {}).items() if n)


def _cell(value: Any, limit: int = MAX_CELL) -> str:
    text = "" if value is None else str(value)
    text = " ".join(text.split()) if "\n" in text or "\t" in text else text
    if limit and len(text) > limit:
        return text[: limit - 1] + "…"
    return text
