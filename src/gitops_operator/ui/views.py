"""What the pages show, shaped from the API server's objects (pure: no I/O, no HTML)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..api import sha_of, status_fields
from ..diagram.labels import signed_by
from ..objects import KubeObject, ObjectRef

UNKNOWN = "Unknown"
PAGE_SIZE = 200
"""Rows of the list page: beyond a few hundred rows a browser spends more time laying out
the table than the server spends on all of them."""
_STAMP = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True, slots=True)
class AppRow:
    """One line of the Applications page."""

    namespace: str
    name: str
    sync: str
    health: str
    revision: str
    created: str
    shard: str
    suspended: bool
    ready: str
    message: str

    def as_data(self, now: datetime) -> dict[str, Any]:
        """What a live update sends for the row (the same cells the page shows)."""
        return {
            "key": f"{self.namespace}/{self.name}",
            "sync": self.sync,
            "health": self.health,
            "revision": short_revision(self.revision),
            "age": age(self.created, now),
            "suspended": self.suspended,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Filters:
    """The list page's query: empty means any."""

    namespace: str = ""
    health: str = ""
    sync: str = ""
    page: int = 1
    """Which ``PAGE_SIZE`` rows of the matches, from 1."""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filters:
        page = query.get("page", "1").strip()
        return cls(
            query.get("namespace", "").strip(),
            query.get("health", "").strip(),
            query.get("sync", "").strip(),
            max(1, int(page)) if page.isdigit() else 1,
        )

    def window(self, total: int) -> tuple[int, int]:
        """The rows of this page: [start, end) of ``total`` matches."""
        start = min((self.page - 1) * PAGE_SIZE, max(0, total - 1) // PAGE_SIZE * PAGE_SIZE)
        return start, min(total, start + PAGE_SIZE)

    def keeps(self, row: AppRow) -> bool:
        return (
            (not self.namespace or row.namespace == self.namespace)
            and (not self.health or row.health == self.health)
            and (not self.sync or row.sync == self.sync)
        )


def app_row(app: KubeObject) -> AppRow:
    meta, spec, status = app["metadata"], app.get("spec") or {}, app.get("status") or {}
    ready = condition(status, "Ready")
    return AppRow(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        sync=str(status.get(status_fields.SYNC) or UNKNOWN),
        health=str(status.get(status_fields.HEALTH) or UNKNOWN),
        revision=str(status.get(status_fields.LAST_APPLIED_REVISION) or ""),
        created=str(meta.get("creationTimestamp") or ""),
        shard=str(status.get(status_fields.SHARD) or ""),  # the replica that owns it
        suspended=bool(spec.get("suspend", False)),
        ready=str(ready.get("status") or UNKNOWN),
        message=str(ready.get("message") or ""),
    )


def app_rows(apps: Iterable[KubeObject], filters: Filters) -> list[AppRow]:
    rows = [r for r in map(app_row, apps) if filters.keeps(r)]
    return sorted(rows, key=lambda r: (r.namespace, r.name))


def table_rows(table: Mapping[str, Any]) -> list[AppRow]:
    """The rows of the API server's Table of Applications (the CRD's printer columns and
    each object's metadata), as ``app_row`` reads a whole object."""
    names = [str(c.get("name")) for c in table.get("columnDefinitions") or []]
    rows = []
    for row in table.get("rows") or []:
        cells = dict(zip(names, row.get("cells") or [], strict=False))
        meta = (row.get("object") or {}).get("metadata") or {}
        rows.append(
            AppRow(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                sync=_cell(cells, "Sync") or UNKNOWN,
                health=_cell(cells, "Health") or UNKNOWN,
                revision=_cell(cells, "Revision"),
                created=str(meta.get("creationTimestamp") or ""),
                shard=_cell(cells, "Shard"),
                suspended=cells.get("Suspended") is True,
                ready=_cell(cells, "Ready") or UNKNOWN,
                message=_cell(cells, "Status"),
            )
        )
    return rows


def _cell(cells: Mapping[str, Any], name: str) -> str:
    value = cells.get(name)
    return "" if value is None or value == "<none>" else str(value)


def condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    found = (c for c in status.get("conditions") or [] if isinstance(c, dict))
    return next((c for c in found if c.get("type") == kind), {})


def short_revision(revision: str) -> str:
    """``main@sha1:0123abcd…`` -> ``main@0123abcd``; empty stays empty."""
    if not revision:
        return ""
    branch, _, _ = revision.partition("@sha1:")
    sha = sha_of(revision)[:8]
    return f"{branch}@{sha}" if "@sha1:" in revision else sha


def age(stamp: str, now: datetime) -> str:
    """``3d``, ``5h``, ``12m``, ``40s`` since ``stamp``; empty when unknown."""
    then = parse_stamp(stamp)
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_stamp(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def duration(start: str, end: str) -> str:
    began, ended = parse_stamp(start), parse_stamp(end)
    if began is None or ended is None:
        return ""
    seconds = max(0, int((ended - began).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass(frozen=True, slots=True)
class TreeObject:
    """One inventoried object in the tree: identity, health, drifted fields."""

    ref: ObjectRef
    api_version: str
    health: str
    drift: tuple[dict[str, Any], ...] = ()
    missing: bool = False


def object_tree(
    assessed: Sequence[tuple[ObjectRef, str, str]], drift: Sequence[Any]
) -> list[tuple[str, list[TreeObject]]]:
    """Objects grouped by kind (kinds and names in order), each with its drift entry of
    ``status.drift``. ``assessed``: (ref, apiVersion, health) per inventoried object."""
    drifted = {str(d.get("object")): d for d in drift if isinstance(d, dict) and d.get("object")}
    groups: dict[str, list[TreeObject]] = defaultdict(list)
    for ref, version, health in assessed:
        entry = drifted.get(str(ref)) or {}
        fields = tuple(f for f in entry.get("fields") or [] if isinstance(f, dict))
        groups[ref.kind].append(
            TreeObject(ref, version, health, fields, bool(entry.get("missing")))
        )
    return [
        (kind, sorted(objs, key=lambda o: (o.ref.namespace, o.ref.name)))
        for kind, objs in sorted(groups.items())
    ]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One attempt of ``status.history`` as the timeline shows it."""

    revision: str
    sha: str
    result: str
    started: str
    took: str
    message: str
    changes: str
    rolled_back_to: str
    author: str
    commit_message: str


def timeline(history: Sequence[Any], artifact: Mapping[str, Any]) -> list[TimelineEntry]:
    """Newest first. A commit's author and message are known for the revision the
    GitRepository last fetched (its ``status.artifact``); others show the SHA only."""
    entries = []
    for item in history:
        if not isinstance(item, dict):
            continue
        revision = str(item.get("revision") or "")
        same = bool(revision) and sha_of(revision) == str(artifact.get("sha") or "-")
        entries.append(
            TimelineEntry(
                revision=revision,
                sha=sha_of(revision),
                result=str(item.get("result") or ""),
                started=str(item.get("startedAt") or ""),
                took=duration(str(item.get("startedAt") or ""), str(item.get("finishedAt") or "")),
                message=str(item.get("message") or ""),
                changes=changes_text(item.get("changes")),
                rolled_back_to=str(item.get("rolledBackTo") or ""),
                author=str(artifact.get("author") or "") if same else "",
                commit_message=str(artifact.get("message") or "") if same else "",
            )
        )
    return entries


def changes_text(changes: Any) -> str:
    """``2 created, 1 configured``; empty when nothing changed."""
    if not isinstance(changes, dict):
        return ""
    return ", ".join(f"{n} {action}" for action, n in sorted(changes.items()) if n)


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    """One GitRepository: its source, last fetched artifact, delivery and verification."""

    namespace: str
    name: str
    url: str
    ref: str
    revision: str
    fetched: str
    author: str
    message: str
    ready: str
    ready_message: str
    delivery: str
    verification: str


def repository_row(repo: KubeObject) -> RepositoryRow:
    meta, spec, status = repo["metadata"], repo.get("spec") or {}, repo.get("status") or {}
    artifact = status.get(status_fields.ARTIFACT) or {}
    ready = condition(status, "Ready")
    delivery = status.get(status_fields.LAST_DELIVERY) or {}
    ref = spec.get("ref") or {}
    return RepositoryRow(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        url=str(spec.get("url", "")),
        ref=", ".join(f"{k} {v}" for k, v in sorted(ref.items())) if isinstance(ref, dict) else "",
        revision=str(artifact.get("revision") or ""),
        fetched=str(artifact.get("fetchedAt") or ""),
        author=str(artifact.get("author") or ""),
        message=str(artifact.get("message") or ""),
        ready=str(ready.get("status") or UNKNOWN),
        ready_message=str(ready.get("message") or ""),
        delivery=delivery_text(delivery),
        verification=signed_by(artifact.get("verification")) or "not verified",
    )


def delivery_text(delivery: Any) -> str:
    if not isinstance(delivery, dict) or not delivery:
        return "none"
    parts = [str(delivery.get(k)) for k in ("provider", "time", "ref") if delivery.get(k)]
    if delivery.get("verified"):
        parts.append("signature verified")
    return " · ".join(parts) or "received"
