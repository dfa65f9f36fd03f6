"""Download chart dependencies with the real helm binary, through a cache.

HTTP chart repositories: a generated ``repositories.yaml`` (credentials and CA there, never
in argv), ``helm repo update``, then ``helm pull <repo>/<chart> --version``. OCI
registries: a generated registry ``config.json`` and ``helm pull oci://...``. All of it
runs in the render's private directory with helm's homes inside it, under one deadline
(``timeout``) and with a cap on each archive's size. Archives of exact versions are kept
in the cache, keyed by (repository, chart, version, credentials), and checked against
their sha256 when read back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..api import ChartRepository
from ..errors import RenderError, RetryableError
from .chart_deps import (
    ChartDependency,
    archive_urls,
    cache_key,
    host_allowed,
    is_exact_version,
    redact,
    repository_entry,
)
from .process import SAFE_PATH, run_tool

FETCH_RETRY_AFTER = 60.0
"""Seconds before a render whose download failed (network, 404, auth) is tried again."""
MAX_INDEX_BYTES = 64 * 1024 * 1024
"""Largest repository ``index.yaml`` helm may write (large public indexes are ~30 MiB)."""
_PRLIMIT = shutil.which("prlimit", path=SAFE_PATH)
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True, repr=False)
class RepositoryCredentials:
    """From the Secret of a ``spec.render.helm.repositories`` entry."""

    username: str = ""
    password: str = ""
    ca_pem: str = ""

    def __repr__(self) -> str:  # never print secret values
        return "RepositoryCredentials(***)"

    @property
    def values(self) -> list[str]:
        """Secret values to scrub from anything helm prints."""
        return [self.password] if len(self.password) >= 4 else []


@dataclass(frozen=True, slots=True)
class ChartFetchSettings:
    """Operator-wide bounds of dependency downloads."""

    allowed_hosts: tuple[str, ...] = ()
    """Hosts dependencies may come from; empty: none (every remote dependency refused)."""
    cache_dir: Path | None = None
    max_chart_bytes: int = 20 * 1024 * 1024
    timeout: float = 60.0
    """Seconds all downloads of one render may take together."""


@dataclass(slots=True)
class _Pull:
    dep: ChartDependency
    entry: ChartRepository | None
    credentials: RepositoryCredentials | None
    key: str | None = None


@dataclass(slots=True)
class ChartFetcher:
    """Fetches the remote dependencies of one render into its ``charts/`` directory."""

    binary: str
    settings: ChartFetchSettings
    repositories: Sequence[ChartRepository]
    credentials: Mapping[str, RepositoryCredentials]
    work: Path
    env: dict[str, str]
    _deadline: float = field(init=False, default=0.0)

    def fetch(self, deps: Sequence[ChartDependency], dest: Path) -> None:
        """Put an archive of every dependency in ``dest`` (from the cache when it can)."""
        self._deadline = time.monotonic() + self.settings.timeout
        dest.mkdir(parents=True, exist_ok=True)
        cache = ChartCache(self.settings.cache_dir) if self.settings.cache_dir else None
        pulls = []
        for dep in deps:
            entry = repository_entry(dep.repository, self.repositories)
            creds = self.credentials.get(entry.url) if entry else None
            pull = _Pull(dep, entry, creds)
            if cache is not None and is_exact_version(dep.version):
                pull.key = cache_key(dep.reference, dep.name, dep.version, cache.fingerprint(creds))
                cached = cache.get(pull.key)
                if cached is not None:
                    shutil.copyfile(cached, dest / f"{dep.name}-{dep.version}.tgz")
                    continue
            pulls.append(pull)
        if not pulls:
            return
        self._write_configs(pulls)
        http = [p for p in pulls if p.dep.scheme != "oci"]
        if http:
            names = sorted({self._repo_name(p.dep.reference) for p in http})
            what = "chart dependency " + ", ".join(p.dep.describe() for p in http)
            try:
                self._run(
                    ["repo", "update", "--fail-on-repo-update-fail", *names],
                    what=what,
                    pulls=http,
                    max_file_bytes=MAX_INDEX_BYTES,
                )
            except RetryableError:
                self._refuse_oversized(self.work / "helm", MAX_INDEX_BYTES, f"{what}: an index")
                raise
            for pull in http:
                self._check_archive_hosts(pull.dep)
        for index, pull in enumerate(pulls):
            archive = self._pull(pull, self.work / "pulled" / str(index))
            if pull.key is not None and cache is not None:
                cache.put(pull.key, archive)
            shutil.move(archive, dest / archive.name)

    def _pull(self, pull: _Pull, into: Path) -> Path:
        dep = pull.dep
        into.mkdir(parents=True)
        if dep.scheme == "oci":
            argv = ["pull", dep.reference]
            if pull.entry is not None and pull.entry.plain_http:
                argv.append("--plain-http")
            if pull.credentials and pull.credentials.ca_pem:
                argv.append(f"--ca-file={self._ca_file(pull.entry)}")
        else:
            argv = ["pull", f"{self._repo_name(dep.reference)}/{dep.name}"]
        if dep.version:
            argv.append(f"--version={dep.version}")
        argv.append(f"--destination={into}")
        what = f"chart dependency {dep.describe()}"
        try:
            self._run(argv, what=what, pulls=[pull], max_file_bytes=self.settings.max_chart_bytes)
        except RetryableError:
            self._refuse_oversized(into, self.settings.max_chart_bytes, f"{what}: the archive")
            raise
        archives = sorted(into.glob("*.tgz"))
        if len(archives) != 1:
            raise RenderError(
                f"chart dependency {dep.describe()}: helm pull produced no chart archive",
                reason="ChartDependencyFetchFailed",
            )
        size = archives[0].stat().st_size
        if size > self.settings.max_chart_bytes:
            raise RenderError(
                f"chart dependency {dep.describe()}: the archive has {size} bytes, more than"
                f" the limit of {self.settings.max_chart_bytes}",
                reason="ChartDependencyTooLarge",
            )
        return archives[0]

    def _check_archive_hosts(self, dep: ChartDependency) -> None:
        """An index may serve archives from any host: each one helm could download for
        ``dep`` must be on the allow-list too."""
        index_file = (
            Path(self.env["HELM_CACHE_HOME"])
            / "repository"
            / f"{self._repo_name(dep.reference)}-index.yaml"
        )
        try:
            index = yaml.load(index_file.read_bytes(), Loader=_SafeLoader)  # noqa: S506
        except (OSError, yaml.YAMLError):
            return  # helm pull reports an unreadable index itself
        if not isinstance(index, dict):
            return
        for url in archive_urls(index, dep.reference, dep.name, dep.version):
            if not host_allowed(url, self.settings.allowed_hosts):
                raise RenderError(
                    f"chart dependency {dep.describe()}: the repository serves it from"
                    f" {redact(url)}, whose host is not on the operator's allow-list of chart"
                    " repositories (GITOPS_CHART_REPOSITORY_HOSTS)",
                    reason="ChartRepositoryNotAllowed",
                )

    @staticmethod
    def _refuse_oversized(directory: Path, limit: int, what: str) -> None:
        """After a failed command: a file that reached ``limit`` means the size cap, not
        the network, stopped it."""
        for path in directory.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size >= limit:
                raise RenderError(
                    f"{what} is larger than the limit of {limit} bytes",
                    reason="ChartDependencyTooLarge",
                )

    def _run(
        self, argv: list[str], *, what: str, pulls: Sequence[_Pull], max_file_bytes: int
    ) -> None:
        """Run helm within the remaining time; no file it writes may grow past
        ``max_file_bytes`` (``prlimit --fsize``: the kernel stops the write)."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise RetryableError(
                f"{what}: downloads did not finish within {self.settings.timeout:g}s",
                reason="ChartDependencyFetchFailed",
                requeue_after=FETCH_RETRY_AFTER,
            )
        try:
            command = [self.binary, *argv]
            if _PRLIMIT:
                command = [_PRLIMIT, f"--fsize={max_file_bytes}", "--", *command]
            run_tool(
                command,
                cwd=self.work,
                timeout=remaining,
                env=self.env,
                stdout_in_errors=True,
            )
        except RenderError as exc:
            message = str(exc).replace("<checkout>/", "").replace("prlimit failed", "helm failed")
            for pull in pulls:
                for value in pull.credentials.values if pull.credentials else ():
                    message = message.replace(value, "***")
            raise RetryableError(
                f"{what}: {_redact_urls(message)}",
                reason="ChartDependencyFetchFailed",
                requeue_after=FETCH_RETRY_AFTER,
            ) from None

    def _write_configs(self, pulls: Sequence[_Pull]) -> None:
        """``repositories.yaml`` for the HTTP repositories and a registry ``config.json``
        for the OCI ones, in the private directory (0600)."""
        repos: dict[str, dict[str, str]] = {}
        auths: dict[str, dict[str, str]] = {}
        for pull in pulls:
            creds = pull.credentials
            if pull.dep.scheme == "oci":
                if creds and creds.password:
                    host = pull.dep.reference.partition("://")[2].split("/")[0]
                    token = f"{creds.username}:{creds.password}".encode()
                    auths[host] = {"auth": base64.b64encode(token).decode()}
                continue
            url = pull.dep.reference
            repo = {"name": self._repo_name(url), "url": url}
            if creds:
                repo.update(username=creds.username, password=creds.password)
                if creds.ca_pem:
                    repo["caFile"] = str(self._ca_file(pull.entry))
            repos[url] = repo
        config = self.work / "helm-repositories.yaml"
        _write_private(
            config, yaml.safe_dump({"apiVersion": "", "repositories": list(repos.values())})
        )
        registry = self.work / "helm-registry.json"
        _write_private(registry, json.dumps({"auths": auths}))
        self.env["HELM_REPOSITORY_CONFIG"] = str(config)
        self.env["HELM_REGISTRY_CONFIG"] = str(registry)

    def _ca_file(self, entry: ChartRepository | None) -> Path:
        assert entry is not None
        creds = self.credentials[entry.url]
        path = self.work / "ca" / f"{hashlib.sha256(entry.url.encode()).hexdigest()[:16]}.crt"
        if not path.exists():
            path.parent.mkdir(exist_ok=True, mode=0o700)
            _write_private(path, creds.ca_pem)
        return path

    @staticmethod
    def _repo_name(url: str) -> str:
        return "repo-" + hashlib.sha256(url.encode()).hexdigest()[:12]


class ChartCache:
    """Downloaded archives by cache key, each beside its sha256; writes are atomic."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def fingerprint(self, creds: RepositoryCredentials | None) -> str:
        """An HMAC of the credentials under a key kept in the cache: part of the cache key,
        useless for guessing the password."""
        if creds is None:
            return ""
        text = "\0".join((creds.username, creds.password, creds.ca_pem)).encode()
        return hmac.new(self._key(), text, hashlib.sha256).hexdigest()

    def get(self, key: str) -> Path | None:
        archive, digest = self.root / f"{key}.tgz", self.root / f"{key}.sha256"
        try:
            expected = digest.read_text(encoding="ascii").strip()
        except OSError:
            return None
        if not archive.is_file() or _sha256(archive) != expected:
            with suppress(OSError):
                archive.unlink()
            return None
        return archive

    def put(self, key: str, archive: Path) -> None:
        tmp = self.root / f".{key}.{secrets.token_hex(4)}"
        shutil.copyfile(archive, tmp)
        os.replace(tmp, self.root / f"{key}.tgz")
        _write_private(tmp, _sha256(archive))
        os.replace(tmp, self.root / f"{key}.sha256")

    def _key(self) -> bytes:
        path = self.root / ".key"
        with suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(secrets.token_bytes(32))
        return path.read_bytes()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _redact_urls(text: str) -> str:
    return " ".join(redact(word) if "://" in word else word for word in text.split(" "))
