"""Push a commit that reverts a failed range of a branch: the Git side of
``spec.rollback.gitRevert``.

Everything happens in a temporary bare repository under the operator's cache directory,
removed afterwards: the branch is fetched (at most ``HISTORY_DEPTH`` commits, the pack
bounded by ``prlimit`` like any fetch), the revert's tree is computed without a working
tree (the last good tree when the branch still ends at the failed commit, else a
three-way ``read-tree`` of the branch over the failed range undone), committed with
``commit-tree`` and pushed without ``+``: a push the server does not take as a
fast-forward is refused and reported, never forced.

A commit is known as the revert of a range by its trailer (``RevertPlan.trailer``): a
branch that already holds it is reused, a tracked branch that already has it is left
alone, so a restart between the push and its record pushes nothing twice.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import git

from ..errors import RetryableError, SourceError, StalledError, redact
from .auth import Credentials
from .command import run_git
from .git import GitSource
from .hosts import Target
from .refs import check_sha

HISTORY_DEPTH = 200
"""Commits of the branch fetched: the failed commit must be among them."""


class RevertError(StalledError):
    """A revert that cannot be pushed until someone acts (its reason says why)."""


@dataclass(frozen=True, slots=True)
class RevertPlan:
    url: str
    base: str
    """The tracked branch: the failed commit's branch."""
    good: str
    failed: str
    branch: str
    """Where the revert goes: a new branch, or ``base`` itself."""
    message: str
    trailer: str
    """The line of ``message`` that names this revert (Application and range)."""
    author_name: str
    author_email: str
    timeout: float


@dataclass(frozen=True, slots=True)
class Pushed:
    commit: str
    """The revert commit ("" when nothing needed reverting)."""
    branch: str
    reused: bool = False
    """The branch already held the revert: nothing was pushed."""
    note: str = ""


def push_revert(
    source: GitSource,
    plan: RevertPlan,
    credentials: Credentials,
    *,
    before_push: Callable[[], None] = lambda: None,
) -> Pushed:
    """Push ``plan``'s revert; ``RevertError`` (with its reason) when it cannot be,
    ``RetryableError`` when the server could not be reached. ``before_push`` is called
    right before the push itself (what it raises stops it: nothing is pushed)."""
    for sha in (plan.good, plan.failed):
        check_sha(sha, where="revision to revert")
    target = source.check_url(plan.url)
    root = source.cache_dir / "reverts"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=root, prefix="revert-"))
    try:
        repo = git.Repo.init(work, bare=True)
        return _Session(source, plan, credentials, target, repo, before_push).push()
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass(slots=True)
class _Session:
    source: GitSource
    plan: RevertPlan
    credentials: Credentials
    target: Target | None
    repo: git.Repo
    before_push: Callable[[], None] = lambda: None

    def push(self) -> Pushed:
        plan = self.plan
        heads = self.remote_heads()
        head = heads.get(plan.base)
        if head is None:
            raise RevertError(
                f"branch {plan.base} is not on {redact(plan.url)}; nothing pushed",
                reason="BranchNotFound",
            )
        if plan.branch != plan.base and plan.branch in heads:
            existing = heads[plan.branch]
            self.fetch(f"+refs/heads/{plan.branch}:refs/gitops/existing", depth=1)
            if plan.trailer in self.message_of(existing):
                return Pushed(existing, plan.branch, reused=True)
            raise RevertError(
                f"branch {plan.branch} already exists on {redact(plan.url)} and does not"
                f" hold this revert (its head {existing[:12]}); nothing pushed",
                reason="BranchExists",
            )
        self.fetch(f"+refs/heads/{plan.base}:refs/gitops/base", depth=HISTORY_DEPTH)
        if not self.has_commit(plan.good):  # not in the branch's recent history
            self.fetch(plan.good, depth=1)
        landed = self.landed(head)
        if landed:
            return Pushed(landed, plan.base, reused=True, note="already on the branch")
        tree = self.revert_tree(head)
        if tree == self.tree_of(head):
            return Pushed("", plan.branch, note=f"{plan.base} already has the last good tree")
        commit = self.commit(tree, head)
        self.push_ref(commit)
        return Pushed(commit, plan.branch)

    def remote_heads(self) -> dict[str, str]:
        plan = self.plan
        wanted = {f"refs/heads/{plan.base}", f"refs/heads/{plan.branch}"}
        output = self.git(None, "ls_remote", "--heads", "--", plan.url, *sorted(wanted))
        heads = {}
        for line in output.splitlines():
            sha, _, ref = line.partition("\t")
            if ref in wanted:
                heads[ref.removeprefix("refs/heads/")] = sha.strip()
        return heads

    def fetch(self, refspec: str, *, depth: int) -> None:
        self.git(
            self.repo,
            "fetch",
            f"--depth={depth}",
            "--no-tags",
            "--",
            self.plan.url,
            refspec,
            max_file_bytes=self.source.max_fetch_bytes,
        )

    def landed(self, head: str) -> str:
        """The commit of the branch (since the failed one) that is this revert, or ""; a
        ``RevertError`` when the failed commit is not in the branch's recent history."""
        plan = self.plan
        history = self.local("rev_list", f"--max-count={HISTORY_DEPTH}", head).split()
        if plan.failed not in history:
            raise RevertError(
                f"branch {plan.base} (at {head[:12]}) does not contain the failed commit"
                f" {plan.failed[:12]} in its last {HISTORY_DEPTH} commits: it diverged"
                " (rewritten?) since; nothing pushed",
                reason="BranchDiverged",
            )
        found = self.local(
            "log", "--format=%H", "-F", f"--grep={plan.trailer}", f"{plan.failed}..{head}"
        )
        return found.split()[0] if found.split() else ""

    def revert_tree(self, head: str) -> str:
        """The branch's tree with the failed range undone: the last good tree when the
        branch still ends at the failed commit, else a three-way merge whose base is the
        failed commit, "ours" the branch and "theirs" the last good commit."""
        plan = self.plan
        if head == plan.failed:
            return self.tree_of(plan.good)
        index = Path(str(self.repo.git_dir)) / "revert-index"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.repo.git.read_tree(
                "-m", "-i", "--aggressive", plan.failed, head, plan.good, env=env
            )
            return str(self.repo.git.write_tree(env=env)).strip()
        except git.GitCommandError:
            raise RevertError(
                f"reverting {plan.good[:12]}..{plan.failed[:12]} conflicts with what"
                f" {plan.base} gained since (now {head[:12]}); nothing pushed",
                reason="RevertConflict",
            ) from None

    def commit(self, tree: str, parent: str) -> str:
        plan = self.plan
        env = {
            "GIT_AUTHOR_NAME": plan.author_name,
            "GIT_AUTHOR_EMAIL": plan.author_email,
            "GIT_COMMITTER_NAME": plan.author_name,
            "GIT_COMMITTER_EMAIL": plan.author_email,
        }
        return str(
            self.repo.git.commit_tree(tree, "-p", parent, "-m", plan.message, env=env)
        ).strip()

    def push_ref(self, commit: str) -> None:
        """``commit`` to the branch, as a fast-forward or a creation only (no ``+``, no
        ``--force``): the server refuses anything else, and that is reported."""
        plan = self.plan
        self.before_push()
        try:
            self.git(self.repo, "push", "--", plan.url, f"{commit}:refs/heads/{plan.branch}")
        except SourceError as exc:
            if exc.reason == "AuthenticationFailed":
                raise RevertError(
                    f"push to {redact(plan.url)} refused: the credentials of"
                    " spec.rollback.gitRevert.secretRef cannot write to it",
                    reason="PushRefused",
                ) from None
            if "rejected" in exc.message or "non-fast-forward" in exc.message:
                raise RevertError(
                    f"push of {commit[:12]} to {plan.branch} refused as not a fast-forward"
                    f" ({plan.branch} moved since it was read); nothing forced",
                    reason="NonFastForward",
                ) from None
            raise

    def has_commit(self, sha: str) -> bool:
        try:
            self.repo.git.cat_file("-e", f"{sha}^{{commit}}")
        except git.GitCommandError:
            return False
        return True

    def tree_of(self, commit: str) -> str:
        return self.local("rev_parse", f"{commit}^{{tree}}").strip()

    def message_of(self, commit: str) -> str:
        return self.local("log", "-1", "--format=%B", commit)

    def local(self, command: str, *args: str) -> str:
        try:
            return str(getattr(self.repo.git, command)(*args))
        except git.GitCommandError as exc:
            raise RetryableError(
                f"git {command.replace('_', '-')} failed on the fetched history: {exc.status}",
                reason="GitRevertFailed",
                requeue_after=60.0,
            ) from None

    def git(self, repo: git.Repo | None, command: str, *args: str, max_file_bytes: int = 0) -> str:
        return run_git(
            repo,
            command,
            *args,
            timeout=self.plan.timeout,
            url=self.plan.url,
            target=self.target,
            credentials=self.credentials,
            allow_local=self.source.allow_local,
            max_file_bytes=max_file_bytes,
        )
