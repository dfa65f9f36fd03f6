"""Decisions about a chart's dependencies, as pure functions over ``Chart.yaml`` data.

Which dependencies a chart declares and at which version (``Chart.lock`` wins, after its
digest is checked the way ``helm dependency build`` checks it), whether a repository's
host is on the operator's allow-list, which ``spec.render.helm.repositories`` entry holds
its credentials, and the key of a downloaded archive in the cache.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..api import ChartRepository
from ..errors import RenderError

REMOTE_SCHEMES = ("https", "http", "oci")
_EXACT_VERSION = re.compile(
    r"v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
)
# Go's encoding/json escapes these inside strings; helm's lock digest is over Go's bytes.
_GO_ESCAPES = {
    "&": "\\u0026",
    "<": "\\u003c",
    ">": "\\u003e",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


@dataclass(frozen=True, slots=True)
class ChartDependency:
    """One entry of ``dependencies``, with the version to fetch (the lock's, if any)."""

    name: str
    version: str
    repository: str
    alias: str = ""

    @property
    def scheme(self) -> str:
        return self.repository.partition("://")[0].lower() if "://" in self.repository else ""

    @property
    def reference(self) -> str:
        """``oci://host/path/name`` for a registry; the repository URL otherwise."""
        if self.scheme == "oci":
            return f"{self.repository.rstrip('/')}/{self.name}"
        return self.repository.rstrip("/")

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"{self.name}{version} from {redact(self.repository) or '(no repository)'}"


def declared(metadata: dict[str, Any], requirements: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The raw dependency entries helm reads: a v1 chart's ``requirements.yaml`` replaces
    ``Chart.yaml``'s list, as helm's loader does."""
    source = requirements if requirements and "dependencies" in requirements else metadata
    entries = source.get("dependencies") or []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise RenderError("chart dependencies must be a list of mappings", reason="InvalidChart")
    return [dict(e) for e in entries]


def resolve_versions(
    entries: list[dict[str, Any]],
    lock: dict[str, Any] | None,
    *,
    chart_api_version: str,
    lock_name: str,
) -> list[ChartDependency]:
    """The dependencies to vendor. With a lock file, its digest must match the declared
    dependencies (``ChartLockOutOfDate`` otherwise) and its exact versions are used."""
    locked: list[dict[str, Any]] = []
    if lock is not None:
        locked = [dict(e) for e in lock.get("dependencies") or [] if isinstance(e, dict)]
        expected = str(lock.get("digest") or "")
        digests = {lock_digest(entries, locked)}
        if chart_api_version == "v1":
            digests.add(lock_digest_v2(entries))
        if expected not in digests:
            raise RenderError(
                f"{lock_name} is out of date with the chart's dependencies (its digest does"
                " not match): run `helm dependency update` and commit the new lock file",
                reason="ChartLockOutOfDate",
            )
    result = []
    for index, entry in enumerate(entries):
        name = str(entry.get("name") or "")
        if not name or "/" in name or ".." in name or name.startswith("-"):
            raise RenderError(
                f"dependency name {name!r} must be a chart name (no '/', '..' or leading '-')",
                reason="InvalidChart",
            )
        repository = str(entry.get("repository") or "")
        version = str(entry.get("version") or "")
        if index < len(locked) and str(locked[index].get("name")) == name:
            version = str(locked[index].get("version") or version)
        result.append(ChartDependency(name, version, repository, str(entry.get("alias") or "")))
    return result


def lock_digest(
    requirements: list[dict[str, Any]] | None, locked: list[dict[str, Any]] | None
) -> str:
    """helm's ``HashReq``: sha256 of Go's JSON of ``[requirements, lock dependencies]``."""
    doc = [_deps_json(requirements), _deps_json(locked)]
    return "sha256:" + hashlib.sha256(_go_json(doc)).hexdigest()


def lock_digest_v2(requirements: list[dict[str, Any]] | None) -> str:
    """helm's ``HashV2Req``: the digest Helm 2 wrote into ``requirements.lock``."""
    doc = {"dependencies": _deps_json(requirements)}
    return "sha256:" + hashlib.sha256(_go_json(doc)).hexdigest()


def _deps_json(entries: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Each entry as Go marshals helm's ``chart.Dependency``: its fields in declaration
    order, empty optional fields left out."""
    if entries is None:
        return None
    out = []
    for entry in entries:
        doc: dict[str, Any] = {"name": str(entry.get("name") or "")}
        if entry.get("version"):
            doc["version"] = str(entry["version"])
        doc["repository"] = str(entry.get("repository") or "")
        if entry.get("condition"):
            doc["condition"] = str(entry["condition"])
        if entry.get("tags"):
            doc["tags"] = [str(t) for t in entry["tags"]]
        if entry.get("enabled"):
            doc["enabled"] = True
        if entry.get("import-values"):
            doc["import-values"] = _sorted_maps(entry["import-values"])
        if entry.get("alias"):
            doc["alias"] = str(entry["alias"])
        out.append(doc)
    return out


def _sorted_maps(value: Any) -> Any:
    """Go marshals a map with its keys sorted; a struct keeps its field order."""
    if isinstance(value, dict):
        return {str(k): _sorted_maps(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted_maps(v) for v in value]
    return value


def _go_json(doc: Any) -> bytes:
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in _GO_ESCAPES.items():
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def is_exact_version(version: str) -> bool:
    """A single semantic version (cacheable), not a range such as ``~1.2`` or ``>=1``."""
    return bool(_EXACT_VERSION.fullmatch(version))


def repository_host(url: str) -> str:
    """``host`` or ``host:port`` of a repository URL, lower-cased."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def host_allowed(url: str, allowed: Sequence[str]) -> bool:
    """Whether the operator's allow-list admits the host of ``url``. Entries are ``*``
    (any host), ``host``, ``host:port`` or ``*.domain`` (its subdomains); an entry
    without a port admits every port. An empty list admits nothing."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    for raw in allowed:
        entry = raw.strip().lower()
        if entry == "*":
            return True
        name, sep, port = entry.rpartition(":")
        if not (sep and port.isdigit()):
            name, port = entry, ""
        if port and str(parts.port or "") != port:
            continue
        name = name.strip("[]")
        if name == host or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def archive_urls(index: dict[str, Any], repository: str, name: str, version: str) -> list[str]:
    """The absolute URLs a repository's ``index.yaml`` gives for ``name`` at ``version``:
    that version's when it is exact, every version's when it is a range (helm picks one)."""
    wanted = version.removeprefix("v")
    entries = (index.get("entries") or {}).get(name) or []
    urls = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        if is_exact_version(version) and str(entry.get("version", "")).removeprefix("v") != wanted:
            continue
        urls += [urljoin(repository.rstrip("/") + "/", str(u)) for u in entry.get("urls") or []]
    return urls


def repository_entry(url: str, repositories: Sequence[ChartRepository]) -> ChartRepository | None:
    """The ``spec.render.helm.repositories`` entry for a dependency's repository: the
    longest ``url`` equal to it or a parent path of it."""
    target = url.rstrip("/")
    matches = [r for r in repositories if target == r.url or target.startswith(r.url + "/")]
    return max(matches, key=lambda r: len(r.url), default=None)


def cache_key(repository: str, name: str, version: str, credentials_fingerprint: str) -> str:
    """Where an archive lives in the cache: one entry per repository, chart, exact version
    and credentials (a chart fetched with one tenant's credentials is never served to a
    render that lacks them)."""
    text = "\0".join((repository.rstrip("/"), name, version, credentials_fingerprint))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def redact(url: str) -> str:
    """``url`` without user information (``https://user:token@host`` -> ``https://***@host``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{path}"
