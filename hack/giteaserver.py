"""A real Gitea on 127.0.0.1, for the tests of commit statuses, pull requests, comments and
webhooks a Git host sends.

Runs the binary hack/build-gitea.sh builds (``make binaries``) on a free port, with
SQLite, no mailer and no network beyond loopback (offline mode; webhooks may go to
loopback receivers only), in a work directory of its own so several runs coexist. Makes
an admin user and an API token, and offers the few calls the tests need, made with that
token: repositories, pushes over HTTP, branches, pull requests, webhooks, and reading
back commit statuses and comments.

    with GiteaServer(tmp_path) as gitea:
        gitea.create_repo("app")
        sha = gitea.push("app", {"app/a.yaml": "..."})
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localcluster import bin_dir
from waiting import free_port, tail, wait_serving

USER = "gitops"
EMAIL = "gitops@example.invalid"


def gitea_binary() -> Path | None:
    """The built Gitea, or None when hack/build-gitea.sh has not run."""
    binary = bin_dir() / "gitea"
    static = bin_dir() / "gitea-static"
    return binary if binary.is_file() and (static / "templates").is_dir() else None


class GiteaError(RuntimeError):
    """An API call Gitea refused: its status and the start of its answer."""


class GiteaServer:
    def __init__(self, workdir: Path) -> None:
        binary = gitea_binary()
        if binary is None:
            raise GiteaError(f"no Gitea in {bin_dir()}: run hack/build-gitea.sh")
        self.binary = binary
        workdir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="gitea-", dir=workdir))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(18)
        self.token = ""
        self.start_seconds = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = self.dir / "custom" / "conf" / "app.ini"
        self.log = self.dir / "gitea.log"
        self._checkouts: dict[str, Path] = {}

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/v1"

    def repo_url(self, name: str) -> str:
        """The repository's web address (what a Provider's ``address`` names)."""
        return f"{self.url}/{USER}/{name}"

    def clone_url(self, name: str) -> str:
        return f"{self.url}/{USER}/{name}.git"

    # -- the process ----------------------------------------------------------------------

    def start(self) -> GiteaServer:
        started = time.monotonic()
        self._write_config()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(self.binary), "web", *self._paths()],
                cwd=self.dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends every child
            )
        try:
            wait_serving(self.proc, f"{self.api_url}/version", self.log, timeout=120)
            account = ["--username", USER, "--email", EMAIL, "--password", self.password]
            self._gitea(
                "admin", "user", "create", "--admin", "--must-change-password=false", *account
            )
            minted = self._gitea(
                *("admin", "user", "generate-access-token", "--scopes", "all", "--raw"),
                *("--username", USER, "--token-name", "tests"),
            )
            self.token = minted.strip().splitlines()[-1]
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started
        print(f"gitea started at {self.url} in {self.start_seconds:.1f}s ({self.dir})")
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        except ProcessLookupError:
            pass

    def __enter__(self) -> GiteaServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _paths(self) -> list[str]:
        return [
            "--config",
            str(self.config),
            "--work-path",
            str(self.dir),
            "--custom-path",
            str(self.config.parent.parent),
        ]

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "GITEA_WORK_DIR": str(self.dir), "HOME": str(self.dir)}
        if os.geteuid() == 0:  # a test machine or a CI container; Gitea refuses root
            env["GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT"] = "true"
        return env

    def _gitea(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.binary), *self._paths(), *args],
            cwd=self.dir,
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise GiteaError(f"gitea {args[:3]} failed: {done.stderr[-2000:]}\n{tail(self.log)}")
        return done.stdout

    def _write_config(self) -> None:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        data = self.dir / "data"
        sections: dict[str, dict[str, object]] = {
            "": {"APP_NAME": "gitops-operator tests", "RUN_MODE": "prod", "WORK_PATH": self.dir},
            "server": {
                "PROTOCOL": "http",
                "HTTP_ADDR": "127.0.0.1",
                "HTTP_PORT": self.port,
                "ROOT_URL": f"{self.url}/",
                "DISABLE_SSH": "true",
                "START_SSH_SERVER": "false",
                "OFFLINE_MODE": "true",
                "LFS_START_SERVER": "false",
                "APP_DATA_PATH": data,
                "STATIC_ROOT_PATH": self.binary.parent / "gitea-static",
            },
            # a throwaway database: a journal in memory halves the start (its schema)
            "database": {
                "DB_TYPE": "sqlite3",
                "PATH": data / "gitea.db",
                "SQLITE_JOURNAL_MODE": "MEMORY",
            },
            "repository": {"ROOT": self.dir / "repositories", "DEFAULT_BRANCH": "main"},
            "security": {
                "INSTALL_LOCK": "true",
                "SECRET_KEY": secrets.token_hex(32),
                # where Gitea may send webhooks: the receivers of the tests, on 127.0.0.1
                "ALLOWED_HOST_LIST": "loopback",
            },
            "service": {"DISABLE_REGISTRATION": "true"},
            "mailer": {"ENABLED": "false"},
            "webhook": {"DELIVER_TIMEOUT": "10"},
            "queue": {"TYPE": "channel"},  # in memory: deliveries go out at once
            "indexer": {"ISSUE_INDEXER_TYPE": "db", "REPO_INDEXER_ENABLED": "false"},
            "cron": {"ENABLED": "false"},
            "actions": {"ENABLED": "false"},
            "packages": {"ENABLED": "false"},
            "session": {"PROVIDER": "memory"},
            "log": {"MODE": "console", "LEVEL": "Warn", "ROOT_PATH": self.dir / "log"},
        }
        lines: list[str] = []
        for section, keys in sections.items():
            lines += [f"[{section}]"] if section else []
            lines += [f"{key} = {value}" for key, value in keys.items()]
            lines.append("")
        self.config.write_text("\n".join(lines))

    # -- the API --------------------------------------------------------------------------

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """Call ``/api/v1{path}`` with the admin's token; the decoded answer."""
        request = urllib.request.Request(
            f"{self.api_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                raw = answer.read()
        except urllib.error.HTTPError as err:
            detail = err.read(1000).decode(errors="replace")
            raise GiteaError(f"{method} {path}: HTTP {err.code} {detail}") from None
        return json.loads(raw) if raw.strip() else None

    def create_repo(self, name: str, *, private: bool = False) -> dict[str, Any]:
        """An empty repository of the admin (public unless ``private``: the operator
        fetches it without credentials)."""
        body = {"name": name, "private": private, "default_branch": "main", "auto_init": False}
        repo: dict[str, Any] = self.api("POST", "/user/repos", body)
        return repo

    def push(
        self, name: str, files: dict[str, str], *, branch: str = "main", message: str = ""
    ) -> str:
        """Commit ``files`` (path -> content) on ``branch`` and push it over HTTP with the
        token; the new commit's SHA. A branch pushed here for the first time starts from
        the commit pushed last."""
        work = self._checkouts.get(name)
        if work is None:
            work = self.dir / "checkouts" / name
            work.mkdir(parents=True)
            self._git(work, "init", "-q", "-b", branch)
            self._checkouts[name] = work
        if self._git(work, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False):
            self._git(work, "checkout", "-q", branch)
        elif self._git(work, "rev-parse", "--verify", "-q", "HEAD", check=False):
            self._git(work, "checkout", "-q", "-b", branch)
        else:  # nothing committed yet
            self._git(work, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
        for path, content in files.items():
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self._git(work, "add", "-A")
        self._git(work, "commit", "-q", "--allow-empty", "-m", message or f"update {branch}")
        authed = self.clone_url(name).replace("http://", f"http://{USER}:{self.token}@", 1)
        self._git(work, "push", "-q", authed, f"HEAD:refs/heads/{branch}")
        return self._git(work, "rev-parse", "HEAD")

    def create_branch(self, name: str, branch: str, start: str = "main") -> dict[str, Any]:
        made: dict[str, Any] = self.api(
            "POST",
            f"/repos/{USER}/{name}/branches",
            {"new_branch_name": branch, "old_ref_name": start},
        )
        return made

    def open_pull_request(
        self, name: str, head: str, base: str = "main", title: str = "change"
    ) -> dict[str, Any]:
        body = {"head": head, "base": base, "title": title, "body": ""}
        made: dict[str, Any] = self.api("POST", f"/repos/{USER}/{name}/pulls", body)
        return made

    def pull_requests(self, name: str, state: str = "all") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api("GET", f"/repos/{USER}/{name}/pulls?state={state}")
        return found

    def add_webhook(
        self, name: str, url: str, secret: str, events: tuple[str, ...] = ("push", "pull_request")
    ) -> dict[str, Any]:
        """A Gitea webhook (JSON, signed with ``secret`` in X-Gitea-Signature)."""
        body = {
            "type": "gitea",
            "active": True,
            "events": list(events),
            "branch_filter": "*",
            "config": {"url": url, "content_type": "json", "secret": secret},
        }
        made: dict[str, Any] = self.api("POST", f"/repos/{USER}/{name}/hooks", body)
        return made

    def combined_status(self, name: str, ref: str) -> dict[str, Any]:
        """``state`` and ``statuses`` (the latest per context) of commit or branch ``ref``."""
        found: dict[str, Any] = self.api("GET", f"/repos/{USER}/{name}/commits/{ref}/status")
        return found

    def statuses(self, name: str, ref: str) -> list[dict[str, Any]]:
        """Every status ever set on ``ref``, newest first."""
        found: list[dict[str, Any]] = self.api("GET", f"/repos/{USER}/{name}/statuses/{ref}")
        return found

    def comments(self, name: str, number: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.api(
            "GET", f"/repos/{USER}/{name}/issues/{number}/comments"
        )
        return found

    def _git(self, cwd: Path, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=gitops", "-c", f"user.email={EMAIL}", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            message = done.stderr.replace(self.token, "***") if self.token else done.stderr
            raise GiteaError(f"git {args[0]} failed: {message[-2000:]}")
        return done.stdout.strip() if done.returncode == 0 else ""
