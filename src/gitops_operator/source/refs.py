"""Reading ``git ls-remote`` output, choosing a ref and checking SHAs: pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

import nodesemver

from ..api import GitRef, RefKind
from ..errors import InvalidSpecError, SourceError, StalledError

_SHA = re.compile(r"[0-9a-f]{40}")
SYMREF_HEAD = "symref:HEAD"
"""Where ``parse_ls_remote`` keeps the branch HEAD points at (``--symref`` output)."""
TAG_OBJECT = "tagobject:"
"""``parse_ls_remote`` keeps an annotated tag's own object as ``tagobject:refs/tags/X``."""


@dataclass(frozen=True, slots=True)
class Revision:
    """What a ref resolved to: the concrete ref, its commit, and for an annotated tag the
    tag object's SHA (None for a branch, a commit or a lightweight tag)."""

    ref: GitRef
    sha: str
    tag: str | None = None


def check_sha(sha: str, *, where: str) -> str:
    """``sha`` if it is a full SHA-1 commit id (40 lower-case hex digits), else
    ``StalledError``: a SHA names a cache directory and a git argument, so anything else
    (``../../etc``, ``--upload-pack=...``) is refused before it reaches either."""
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise StalledError(
            f"{where}: {str(sha)[:80]!r} is not a commit SHA (40 hex digits)",
            reason="InvalidRevision",
        )
    return sha


def parse_ls_remote(output: str) -> dict[str, str]:
    """``refs/... -> sha``; a peeled annotated tag (``^{}``) replaces the tag object,
    which stays under ``TAG_OBJECT + name``."""
    refs: dict[str, str] = {}
    peeled: dict[str, str] = {}
    branch = default_branch(output)
    if branch:
        refs[SYMREF_HEAD] = branch
    for line in output.splitlines():
        sha, _, name = line.strip().partition("\t")
        if not name or not _SHA.fullmatch(sha):
            continue  # what a server sends is data: only well-formed SHAs are kept
        if name.endswith("^{}"):
            peeled[name[:-3]] = sha
        else:
            refs[name] = sha
    tags = {TAG_OBJECT + name: refs[name] for name in peeled if name in refs}
    return {**refs, **peeled, **tags}


def tag_object(ref: GitRef, refs: dict[str, str]) -> str | None:
    """The SHA of the annotated tag object a concrete tag ref names, if it is one."""
    if ref.kind is not RefKind.TAG:
        return None
    return refs.get(f"{TAG_OBJECT}refs/tags/{ref.value}")


def ls_remote_patterns(ref: GitRef) -> list[str]:
    if ref.kind is RefKind.BRANCH and not ref.value:
        return ["HEAD"]  # with --symref: the default branch's name, then its SHA
    if ref.kind is RefKind.BRANCH:
        return [f"refs/heads/{ref.value}"]
    if ref.kind is RefKind.TAG:
        return [f"refs/tags/{ref.value}", f"refs/tags/{ref.value}^{{}}"]
    return ["refs/tags/*"]


def default_branch(output: str) -> str | None:
    """The branch ``git ls-remote --symref URL HEAD`` says HEAD points at."""
    for line in output.splitlines():
        target, _, name = line.strip().partition("\t")
        if name == "HEAD" and target.startswith("ref: refs/heads/"):
            branch = target.removeprefix("ref: refs/heads/")
            if branch and len(branch) <= 255 and not branch.startswith("-"):
                return branch
    return None


def select(ref: GitRef, refs: dict[str, str], url: str) -> tuple[GitRef, str]:
    """The concrete ref (a semver range becomes the highest matching tag, no ref the
    remote's default branch) and its SHA."""
    if ref.kind is RefKind.SEMVER:
        tags = {
            name.removeprefix("refs/tags/"): sha
            for name, sha in refs.items()
            if name.startswith("refs/tags/")
        }
        chosen = highest_matching(list(tags), ref.value)
        if chosen is None:
            raise SourceError(f"no tag of {url} matches semver {ref.value!r}", reason="RefNotFound")
        return GitRef(RefKind.TAG, chosen), tags[chosen]
    if ref.kind is RefKind.BRANCH and not ref.value:
        branch, sha = refs.get(SYMREF_HEAD), refs.get("HEAD")
        if not branch or not sha:
            raise SourceError(
                f"{url} names no default branch (HEAD); set spec.ref.branch",
                reason="RefNotFound",
            )
        return GitRef(RefKind.BRANCH, branch), sha
    kind = "heads" if ref.kind is RefKind.BRANCH else "tags"
    sha = refs.get(f"refs/{kind}/{ref.value}")
    if not sha:
        raise SourceError(
            f"{ref.kind.value} {ref.value!r} not found in {url}", reason="RefNotFound"
        )
    return ref, sha


def highest_matching(tags: list[str], expression: str) -> str | None:
    """The highest tag (``v`` prefix allowed) inside the npm-style range ``expression``
    (``>=1.2.0 <2.0.0``, ``^1.2``, ``~1.2.3``, ``1.x``); pre-releases only when the range
    names one."""
    valid = [tag for tag in tags if nodesemver.valid(tag, loose=True)]
    try:
        nodesemver.make_range(expression, loose=True)  # refuse a bad range even with no tags
        best = nodesemver.max_satisfying(valid, expression, loose=True)
    except ValueError as exc:
        raise InvalidSpecError(
            f"spec.ref.semver: invalid range {expression!r}: {exc}", reason="InvalidSemver"
        ) from exc
    return str(best) if best else None
