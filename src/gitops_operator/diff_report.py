"""How a diff between two renders (or a render and the live cluster) is reported: text for
people, data for programs, Markdown for a pull-request comment (a table of the objects,
then each object's diff, folded). ``gitops-operator diff --base`` prints it; the
operator posts the Markdown on pull requests it plans (``spec.pullRequests``)."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from .diff import FieldChange
from .render_diff import Change, ObjectDiff, count

MAX_MARKDOWN = 60_000
"""Characters of Markdown at most: GitHub refuses comments over 65,536; objects past the
limit are listed in the table but their diffs are left out (the text and JSON keep all)."""


def value_text(value: Any) -> str:
    """A field value as JSON (strings quoted), so types and empty strings stay visible."""
    if value is None:
        return "<none>"
    return json.dumps(value, sort_keys=True, default=str)


_MARK = {Change.ADDED: "+", Change.REMOVED: "-", Change.CHANGED: "~"}


@dataclass(frozen=True, slots=True)
class Revision:
    """One side of the diff: the revision as given (empty: the working tree), its SHA."""

    given: str
    sha: str = ""

    def __str__(self) -> str:
        if not self.given:
            return "the working tree"
        return f"{self.given} ({self.sha[:12]})" if self.sha[:12] != self.given else self.given


@dataclass(frozen=True, slots=True)
class RevisionDiff:
    """What changes between two renders of one path (or Application) of a repository."""

    base: Revision
    head: Revision
    subject: str
    """What was rendered: ``path apps/shop`` or ``Application team/shop (apps/shop)``."""
    diffs: tuple[ObjectDiff, ...]
    notes: tuple[str, ...] = field(default=())


def as_data(report: RevisionDiff) -> dict[str, Any]:
    """The report for ``-o json`` and ``-o yaml``; Secret values are already masked."""
    return {
        "base": {"revision": report.base.given, "sha": report.base.sha},
        "head": {"revision": report.head.given or "working tree", "sha": report.head.sha},
        "subject": report.subject,
        "summary": {change.value: n for change, n in count(report.diffs).items()},
        "notes": list(report.notes),
        "objects": [
            {
                "apiVersion": d.api_version,
                "kind": d.ref.kind,
                "namespace": d.ref.namespace,
                "name": d.ref.name,
                "change": d.change.value,
                "fields": [
                    {"path": f.path, "pointer": f.pointer, "base": f.live, "head": f.desired}
                    for f in d.fields
                ],
            }
            for d in report.diffs
        ],
    }


def as_text(report: RevisionDiff) -> str:
    """``~`` changed (each field with its base and head value), ``+`` added, ``-`` removed."""
    lines = [f"{report.subject}: {report.base} -> {report.head}"]
    lines += [f"note: {note}" for note in report.notes]
    if not report.diffs:
        return "\n".join([*lines, "no differences"]) + "\n"
    lines.append(_summary(report))
    for d in report.diffs:
        lines.append(f"{_MARK[d.change]} {_name(d)} ({d.change.value})")
        for f in d.fields:
            lines.append(f"    {f.path}")
            lines.append(f"      base: {value_text(f.live)}")
            lines.append(f"      head: {value_text(f.desired)}")
    return "\n".join(lines) + "\n"


def as_markdown(report: RevisionDiff, limit: int = MAX_MARKDOWN) -> str:
    """A pull-request comment: a summary, a table of the objects that differ, and each
    one's diff in a folded ``<details>`` block."""
    head = [
        f"### gitops-operator diff: {report.subject}",
        "",
        f"`{report.base}` → `{report.head}`",
        "",
        *(f"> {note}" for note in report.notes),
    ]
    if not report.diffs:
        return "\n".join([*head, "No object changes.", ""])
    table = [
        f"**{_summary(report)}**",
        "",
        "| | Object | API version | Fields changed |",
        "| --- | --- | --- | --- |",
        *(
            f"| {_MARK[d.change]} {d.change.value} | `{_name(d, version=False)}`"
            f" | `{d.api_version}` | {len(d.fields) if d.fields else ''} |"
            for d in report.diffs
        ),
        "",
    ]
    text = "\n".join([*head, *table])
    for shown, d in enumerate(report.diffs):
        block = _details(d)
        if len(text) + len(block) > limit:
            left = len(report.diffs) - shown
            return text + (
                f"\n{left} more object diffs are not shown, to keep this comment under"
                " GitHub's size limit: run `gitops-operator diff` for all of them.\n"
            )
        text += block
    return text


def render_failure_markdown(failure: str, subject: str, message: str) -> str:
    """The comment to post when a revision does not render: which one, and the error."""
    fence = _fence(message)
    said = failure[:1].upper() + failure[1:]
    return f"### gitops-operator diff: {subject}\n\n**{said}:**\n\n{fence}\n{message}\n{fence}\n"


def _summary(report: RevisionDiff) -> str:
    counts = count(report.diffs)
    parts = ", ".join(f"{n} {change.value}" for change, n in counts.items() if n)
    plural = "object differs" if len(report.diffs) == 1 else "objects differ"
    return f"{len(report.diffs)} {plural}: {parts}"


def _name(d: ObjectDiff, *, version: bool = True) -> str:
    scope = f"{d.ref.namespace}/" if d.ref.namespace else ""
    prefix = f"{d.api_version} " if version else ""
    return f"{prefix}{d.ref.kind} {scope}{d.ref.name}"


def _details(d: ObjectDiff) -> str:
    if d.change is Change.CHANGED:
        lines = [line for f in d.fields for line in _field_lines(f)]
        what = f"{len(d.fields)} field{'s' if len(d.fields) != 1 else ''}"
    else:
        mark = _MARK[d.change]
        body = yaml.safe_dump(d.manifest, sort_keys=False, allow_unicode=True)
        lines = [f"{mark} {line}" for line in body.splitlines()]
        what = d.change.value
    body_text = "\n".join(lines)
    fence = _fence(body_text)
    return (
        f"\n<details><summary>{_MARK[d.change]} <code>{_name(d, version=False)}</code>"
        f" ({what})</summary>\n\n{fence}diff\n{body_text}\n{fence}\n\n</details>\n"
    )


def _field_lines(change: FieldChange) -> list[str]:
    lines = [f"@@ {change.path} @@"]
    old, new = change.live, change.desired
    if isinstance(old, str) and isinstance(new, str) and "\n" in old + new:
        # a file kept in a field (a ConfigMap's config, a script): its lines, diffed
        changed = difflib.unified_diff(old.splitlines(), new.splitlines(), n=2, lineterm="")
        body = list(changed)[2:]  # after the ---/+++ header: hunks, as in any unified diff
        return lines + [line if line[:2] == "@@" else f"{line[0]} {line[1:]}" for line in body]
    for mark, value in (("-", old), ("+", new)):
        if value is None:
            continue  # the field is absent on this side
        if isinstance(value, dict | list) and value:
            dumped = yaml.safe_dump(value, sort_keys=False, allow_unicode=True)
            lines += [f"{mark} {line}" for line in dumped.splitlines()]
        else:
            lines.append(f"{mark} {value_text(value)}")
    return lines


def _fence(text: str) -> str:
    """A code fence longer than any run of backticks in ``text``, so it cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
