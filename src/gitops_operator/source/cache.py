"""The artifact cache: the tree of one commit as fetched from one URL with one Secret.

A SHA alone names a commit, not a right to read it: SHAs are printed in statuses, logs
and Events, so an artifact found by SHA alone would hand one tenant's tree to anyone who
names the SHA (with an unreachable URL, or a server that advertises it). So artifacts are
kept under ``<root>/<key>/<sha>`` where the key hashes the normalised URL and the
credentials scope (the ``namespace/name`` of the Secret, or nothing). Another URL, or the
same URL without that Secret, has another key and must fetch the commit itself, proving
it can read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .hosts import DEFAULT_PORTS
from .refs import check_sha

IN_USE_SECONDS = 600.0
"""An artifact looked up this recently is never evicted."""
RECHECK_SECONDS = 10.0
"""An artifact found on disk this recently is served without looking again (the steady
passes of a thousand Applications of one commit look it up a thousand times a minute)."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """The tree of one commit, checked out on local disk."""

    sha: str
    path: Path
    message: str
    author: str


def normalise_url(url: str) -> str:
    """``url`` with its scheme and host lower-cased, the default port, a trailing ``/``
    and ``.git`` dropped: spellings of one repository share a key. User info is kept (a
    URL with a password in it is another scope)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if ":" not in host else f"[{host}]"
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    if "@" in parts.netloc:
        netloc = parts.netloc.rpartition("@")[0] + "@" + netloc
    path = parts.path.rstrip("/").removesuffix(".git")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def credentials_scope(namespace: str, secret_name: str | None) -> str:
    """Who fetched: the Secret a GitRepository names (``namespace/name``), or ``""``."""
    return f"{namespace}/{secret_name}" if secret_name else ""


class ArtifactCache:
    """Artifacts under ``root``, found by (URL, credentials scope, SHA)."""

    def __init__(self, root: Path, *, max_bytes: int = 0) -> None:
        self.root = root
        self.max_bytes = max_bytes
        """Bytes kept on disk (0: no bound); the least recently used artifacts go first."""
        self._found: dict[tuple[str, str, str], tuple[Artifact, float]] = {}
        """Artifacts found on disk, and when (monotonic): ``RECHECK_SECONDS``."""

    def directory(self, url: str, scope: str, sha: str) -> Path:
        check_sha(sha, where="artifact revision")
        key = hashlib.sha256(f"{normalise_url(url)}\0{scope}".encode()).hexdigest()[:32]
        return self.root / key / sha

    def get(self, url: str, scope: str, sha: str) -> Artifact | None:
        """The artifact of ``sha`` as fetched from ``url`` with ``scope``, if cached.
        Found within ``RECHECK_SECONDS``: served from memory (its last use is recorded
        at most that often, far within ``IN_USE_SECONDS``)."""
        now = time.monotonic()
        key = (url, scope, sha)
        found = self._found.get(key)
        if found is not None and now - found[1] < RECHECK_SECONDS:
            return found[0]
        path = self.directory(url, scope, sha)
        info = path.with_suffix(".json")
        if not path.is_dir() or not info.is_file():
            return None
        try:
            meta = json.loads(info.read_text())
            os.utime(info)  # last use, for eviction
        except (OSError, ValueError):
            return None
        artifact = Artifact(sha, path, str(meta.get("message", "")), str(meta.get("author", "")))
        if len(self._found) >= 256:  # old entries go; each is one artifact in use
            self._found = {k: v for k, v in self._found.items() if now - v[1] < RECHECK_SECONDS}
        self._found[key] = (artifact, now)
        return artifact

    def staging(self) -> Path:
        """A directory on the cache's filesystem to build a tree in (then ``store`` it)."""
        path = self.root / ".staging"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def store(
        self, url: str, scope: str, sha: str, tree: Path, *, message: str, author: str, size: int
    ) -> Artifact:
        """Move the extracted ``tree`` into place; its info file is written last, so a
        crash in between leaves nothing ``get`` would serve."""
        path = self.directory(url, scope, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():  # left by a crash before its info file was written
            shutil.rmtree(path)
        os.replace(tree, path)
        info = {"message": message, "author": author, "bytes": size}
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(info))
        os.replace(temporary, path.with_suffix(".json"))
        if self.max_bytes:
            self.evict(keep=path)
        return Artifact(sha, path, message, author)

    def evict(self, *, keep: Path | None = None, now: float | None = None) -> list[Path]:
        """Remove the least recently used artifacts until the cache holds at most
        ``max_bytes``. One used within ``IN_USE_SECONDS`` stays (a render may be reading
        it), so the bound can be exceeded for that long. Returns what was removed."""
        now = time.time() if now is None else now
        entries = []
        for info in self.root.glob("*/*.json"):
            try:
                size = int(json.loads(info.read_text()).get("bytes", 0))
                entries.append((info.stat().st_mtime, size, info.with_suffix("")))
            except (OSError, ValueError, AttributeError):
                continue
        total = sum(size for _, size, _ in entries)
        removed: list[Path] = []
        for used, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            if path == keep or now - used < IN_USE_SECONDS:
                continue
            path.with_suffix(".json").unlink(missing_ok=True)  # first: never served half
            self._found = {k: v for k, v in self._found.items() if v[0].path != path}
            shutil.rmtree(path, ignore_errors=True)
            total -= size
            removed.append(path)
        for leftover in (self.root / ".staging").glob("extract-*"):
            with suppress(OSError):
                if now - leftover.stat().st_mtime > IN_USE_SECONDS:
                    shutil.rmtree(leftover, ignore_errors=True)
        return removed
