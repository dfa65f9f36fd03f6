"""Git over the git binary (through GitPython): ls-remote, shallow fetch, artifacts.

An unchanged remote costs one ls-remote. A fetch happens once per (URL, Secret, SHA)
whatever the number of Applications using it; the tree is extracted into the artifact
cache (``cache.py``), where only the same URL with the same Secret finds it again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import git

from ..api import GitRef, RefKind
from ..config import Settings
from ..errors import InvalidSpecError, SourceError, StalledError, redact
from .auth import Credentials
from .cache import Artifact, ArtifactCache
from .changes import ChangedPaths
from .command import run_git
from .hosts import HostPolicy, Resolver, Target, check_target
from .refs import Revision, check_sha, ls_remote_patterns, parse_ls_remote, select, tag_object
from .signatures import ObjectKind, SignedObject, signed_object

log = logging.getLogger(__name__)

REMOTE_SCHEMES = ("http", "https", "ssh")
DEFAULT_MAX_TREE_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_TREE_FILES = 100_000
BYTES_PER_FILE = 128
"""What a pack and its index may hold beyond the tree's own bytes, per file it may have:
object headers, tree entries, index entries."""


class GitSource:
    def __init__(
        self,
        cache_dir: Path,
        *,
        allow_local: bool = False,
        allowed_hosts: HostPolicy | None = None,
        resolver: Resolver | None = None,
        max_tree_bytes: int = DEFAULT_MAX_TREE_BYTES,
        max_tree_files: int = DEFAULT_MAX_TREE_FILES,
        max_cache_bytes: int = 0,
    ) -> None:
        self.cache_dir = cache_dir
        self.artifacts = ArtifactCache(cache_dir / "artifacts", max_bytes=max_cache_bytes)
        self.max_tree_bytes = max_tree_bytes
        self.max_tree_files = max_tree_files
        self.allow_local = allow_local
        self.allowed_hosts = allowed_hosts or HostPolicy()
        self.resolver = resolver
        self.changes = ChangedPaths()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, cache_dir: Path | None = None) -> GitSource:
        """The source an operator process (or the CLI, with its own cache) uses."""
        return cls(
            cache_dir or settings.cache_dir,
            allow_local=settings.allow_local_sources,
            allowed_hosts=HostPolicy.parse(settings.allowed_git_hosts),
            max_tree_bytes=settings.max_tree_bytes,
            max_tree_files=settings.max_tree_files,
            max_cache_bytes=settings.max_cache_bytes,
        )

    @property
    def max_fetch_bytes(self) -> int:
        """The largest pack a fetch may write: a tree within the limits, packed, fits."""
        return self.max_tree_bytes + BYTES_PER_FILE * self.max_tree_files

    # -- public ------------------------------------------------------------------------

    def check_url(self, url: str) -> Target | None:
        """Refuse schemes other than http, https and ssh (and file:// unless allowed), and
        hosts ``hosts.check_target`` refuses; the target a remote URL may connect to."""
        scheme = urlsplit(url).scheme
        if scheme in REMOTE_SCHEMES:
            return check_target(url, self.allowed_hosts, self.resolver)
        if scheme == "file" and self.allow_local:
            return None
        raise InvalidSpecError(
            f"repository URL {redact(url)!r}: only http://, https:// and ssh:// URLs are allowed",
            reason="UnsupportedURL",
        )

    def resolve(
        self, url: str, ref: GitRef, *, timeout: float, credentials: Credentials | None = None
    ) -> tuple[GitRef, str]:
        """The concrete ref and commit SHA ``ref`` points at on the remote: one ls-remote
        round trip (none for a commit). A semver range resolves to its highest tag."""
        revision = self.resolve_revision(url, ref, timeout=timeout, credentials=credentials)
        return revision.ref, revision.sha

    def resolve_revision(
        self, url: str, ref: GitRef, *, timeout: float, credentials: Credentials | None = None
    ) -> Revision:
        """``resolve``, with the SHA of the annotated tag object a tag ref names."""
        target = self.check_url(url)
        if ref.kind is RefKind.COMMIT:
            return Revision(ref, check_sha(ref.value, where="spec.ref.commit"))
        symref = ("--symref",) if ref.kind is RefKind.BRANCH and not ref.value else ()
        output = self._git(
            None,
            "ls_remote",
            *symref,
            "--",
            url,
            *ls_remote_patterns(ref),
            timeout=timeout,
            url=url,
            target=target,
            credentials=credentials,
        )
        refs = parse_ls_remote(output)
        concrete, sha = select(ref, refs, url)
        return Revision(concrete, sha, tag_object(concrete, refs))

    def resolve_name(
        self, url: str, name: str, *, timeout: float, credentials: Credentials | None = None
    ) -> str | None:
        """The commit the remote's ref ``name`` (``refs/pull/7/head``) points at, None when
        the remote has no such ref: one ls-remote round trip."""
        target = self.check_url(url)
        output = self._git(
            None,
            "ls_remote",
            "--",
            url,
            name,
            timeout=timeout,
            url=url,
            target=target,
            credentials=credentials,
        )
        sha = parse_ls_remote(output).get(name)
        return check_sha(sha, where=name) if sha else None

    def artifact(self, url: str, sha: str, *, scope: str = "") -> Artifact | None:
        """The cached tree of ``sha`` if ``url`` with the Secret ``scope``
        (``credentials_scope``) fetched it, in this process or an earlier one."""
        return self.artifacts.get(url, scope, sha)

    def fetch(
        self,
        url: str,
        ref: GitRef,
        sha: str,
        *,
        timeout: float,
        credentials: Credentials | None = None,
        scope: str = "",
    ) -> Artifact:
        """Make the tree of ``sha`` available locally, fetching it from ``url`` with
        ``credentials`` (whose Secret is ``scope``) if that URL and scope have not yet.

        ``ref`` names what to fetch (the concrete ref from ``resolve``); a commit ref
        fetches the SHA itself."""
        target = self.check_url(url)
        check_sha(sha, where="revision to fetch")
        with self._lock(url):
            cached = self.artifact(url, sha, scope=scope)
            if cached:
                return cached
            repo = self._mirror(url)
            self._download(repo, url, ref, sha, target, timeout, credentials)
            try:
                commit = repo.commit(sha)
            except (ValueError, git.BadName) as exc:
                raise SourceError(
                    f"{url}: commit {sha} moved away during fetch; will retry", reason="RefMoved"
                ) from exc
            try:
                return self._extract(repo, commit, url, scope)
            finally:
                self._trim_mirror(Path(repo.git_dir))

    def signed_objects(
        self,
        url: str,
        revision: Revision,
        *,
        commit: bool,
        tag: bool,
        timeout: float,
        credentials: Credentials | None = None,
    ) -> list[SignedObject]:
        """The commit of ``revision`` (with ``commit``) and its tag object (with ``tag``)
        as signed objects, read from the mirror, fetched into it first if missing. A tag
        wanted but not annotated is returned unsigned (only a tag object carries one)."""
        target = self.check_url(url)
        wanted = [(ObjectKind.TAG, revision.tag or "")] if tag else []
        if commit:
            wanted.append((ObjectKind.COMMIT, revision.sha))
        for _, sha in wanted:
            if sha:
                check_sha(sha, where="object to verify")
        with self._lock(url):
            repo = self._mirror(url)
            if any(sha and not _has_object(repo, sha) for _, sha in wanted):
                self._download(repo, url, revision.ref, revision.sha, target, timeout, credentials)
            return [
                signed_object(kind, sha, _read_object(repo, kind, sha) if sha else b"")
                for kind, sha in wanted
            ]

    # -- helpers -----------------------------------------------------------------------

    def _download(
        self,
        repo: git.Repo,
        url: str,
        ref: GitRef,
        sha: str,
        target: Target | None,
        timeout: float,
        credentials: Credentials | None,
    ) -> None:
        """Fetch ``ref`` (a commit ref: ``sha``) shallowly into the mirror ``repo``; a pack
        larger than the limits is stopped while it downloads."""
        if ref.kind is RefKind.COMMIT:
            refspec = sha
        else:
            kind = "heads" if ref.kind is RefKind.BRANCH else "tags"
            refspec = f"+refs/{kind}/{ref.value}:refs/gitops/fetched"
        try:
            self._git(
                repo,
                "fetch",
                "--depth=1",
                "--no-tags",
                "--",
                url,
                refspec,
                timeout=timeout,
                url=url,
                target=target,
                credentials=credentials,
                max_file_bytes=self.max_fetch_bytes,
            )
        except SourceError:
            if not _stopped_at(Path(repo.git_dir), self.max_fetch_bytes):
                raise
            shutil.rmtree(repo.git_dir, ignore_errors=True)  # and the partial pack in it
            raise StalledError(
                f"git fetch: {redact(url)} sent more than this operator accepts"
                f" ({self.max_fetch_bytes / 2**20:.1f} MiB: GITOPS_MAX_TREE_BYTES plus"
                f" {BYTES_PER_FILE} bytes per GITOPS_MAX_TREE_FILES); the download was"
                " stopped",
                reason="RepositoryTooLarge",
            ) from None

    def _check_size(self, repo: git.Repo, sha: str) -> int:
        """Refuse a tree larger than the limits before writing any of it: ``ls-tree``
        reads sizes from the tree objects without expanding a blob. Returns the bytes of
        its files."""
        proc = repo.git.ls_tree("-r", "-l", "-z", "--full-tree", sha, "--", as_process=True)
        files, total, pending = 0, 0, b""
        try:
            while chunk := proc.stdout.read(64 * 1024):
                *entries, pending = (pending + chunk).split(b"\0")
                for entry in entries:
                    fields = entry.partition(b"\t")[0].split()
                    files += 1
                    total += int(fields[3]) if len(fields) == 4 and fields[3].isdigit() else 0
                    if files > self.max_tree_files or total > self.max_tree_bytes:
                        raise StalledError(
                            f"commit {sha}: the repository is larger than this operator"
                            f" accepts ({self.max_tree_files} files,"
                            f" {self.max_tree_bytes // 2**20} MiB; GITOPS_MAX_TREE_FILES,"
                            " GITOPS_MAX_TREE_BYTES)",
                            reason="RepositoryTooLarge",
                        )
        finally:
            proc.proc.kill()
            proc.proc.wait()
        return total

    def _extract(self, repo: git.Repo, commit: git.Commit, url: str, scope: str) -> Artifact:
        """Write the tree of ``commit`` with git's own checkout (a private index): git
        refuses a path with ``..`` or ``.git``, never writes through a symlink, and is
        several times faster than unpacking an archive. Symlinks are kept as they are:
        render refuses any an Application's path can reach and leaves the others out of
        its copy, so one stray link in a monorepo does not block every Application."""
        size = self._check_size(repo, commit.hexsha)
        staging = Path(tempfile.mkdtemp(dir=self.artifacts.staging(), prefix="extract-"))
        try:
            tree = staging / "tree"
            tree.mkdir()
            # no system or user configuration: no filter driver (LFS) runs on checkout
            checkout_env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
            with repo.git.custom_environment(GIT_INDEX_FILE=str(staging / "index"), **checkout_env):
                repo.git.read_tree(commit.hexsha)
                repo.git.execute(["git", f"--work-tree={tree}", "checkout-index", "-a", "-f"])
            return self.artifacts.store(
                url,
                scope,
                commit.hexsha,
                tree,
                message=str(commit.message).strip(),
                author=f"{commit.author.name} <{commit.author.email}>",
                size=size,
            )
        except git.GitCommandError as exc:
            raise StalledError(
                f"commit {commit.hexsha}: {str(exc.stderr).strip()[:300]} (refused: it leaves"
                " the checkout)",
                reason="PathOutsideRepository",
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def changed_paths(self, url: str, old: str, new: str) -> frozenset[str] | None:
        """The paths commits ``old`` and ``new`` of ``url`` differ in, or None when that
        is not known here (either commit is not in the local mirror)."""
        return self.changes.between(self._mirror_path(url), old, new)

    def _mirror_path(self, url: str) -> Path:
        return self.cache_dir / "repos" / hashlib.sha256(url.encode()).hexdigest()[:24]

    def _mirror(self, url: str) -> git.Repo:
        path = self._mirror_path(url)
        if (path / "HEAD").exists():
            return git.Repo(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return git.Repo.init(path, bare=True)

    def _trim_mirror(self, path: Path) -> None:
        """A mirror only speeds up the next fetch; one grown past the tree bound (shallow
        fetches add every new commit's objects) is removed and starts afresh."""
        size = sum(
            (Path(d) / f).stat().st_size for d, _, files in os.walk(path / "objects") for f in files
        )
        if size > self.max_tree_bytes:
            log.info("removing the Git mirror %s (%d bytes)", path.name, size)
            shutil.rmtree(path, ignore_errors=True)

    def _lock(self, url: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(url, threading.Lock())

    def _git(
        self,
        repo: git.Repo | None,
        command: str,
        *args: str,
        timeout: float,
        url: str,
        target: Target | None,
        credentials: Credentials | None,
        max_file_bytes: int = 0,
    ) -> str:
        return run_git(
            repo,
            command,
            *args,
            timeout=timeout,
            url=url,
            target=target,
            credentials=credentials,
            allow_local=self.allow_local,
            max_file_bytes=max_file_bytes,
        )


def _has_object(repo: git.Repo, sha: str) -> bool:
    try:
        repo.odb.info(bytes.fromhex(sha))
    except (ValueError, git.BadObject, git.BadName):
        return False
    return True


def _read_object(repo: git.Repo, kind: ObjectKind, sha: str) -> bytes:
    """The raw bytes of object ``sha``; a ``SourceError`` unless it is a ``kind``."""
    try:
        stream = repo.odb.stream(bytes.fromhex(sha))
    except (ValueError, git.BadObject, git.BadName) as exc:
        raise SourceError(f"{kind} {sha} is not in the fetched objects; will retry") from exc
    if stream.type != kind.value.encode():
        raise SourceError(f"{sha} is a {stream.type.decode()}, not a {kind}", reason="RefMoved")
    return bytes(stream.read())


def _stopped_at(git_dir: Path, limit: int) -> bool:
    """Did a fetch into ``git_dir`` fail because its pack reached ``limit`` bytes? (git
    says only "invalid index-pack output" when the kernel stops index-pack's write.)"""
    packs = (git_dir / "objects" / "pack").glob("tmp_pack_*")
    return any(pack.stat().st_size >= limit for pack in packs)
