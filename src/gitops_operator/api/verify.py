"""``spec.verify`` of a GitRepository (Flux's shape): whose signature must verify, and
the Secret holding the keys trusted to sign."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import InvalidSpecError


class VerifyMode(StrEnum):
    HEAD = "HEAD"
    """The commit the ref resolves to."""
    TAG = "Tag"
    """The annotated tag object the ref names (a tag or semver ref only)."""
    TAG_AND_HEAD = "TagAndHEAD"
    """Both: the tag object and the commit it points at."""

    @property
    def checks_tag(self) -> bool:
        return self is not VerifyMode.HEAD

    @property
    def checks_commit(self) -> bool:
        return self is not VerifyMode.TAG


@dataclass(frozen=True, slots=True)
class VerifySpec:
    mode: VerifyMode
    secret_name: str
    """A Secret in the GitRepository's namespace: armored OpenPGP public keys (any key
    name), ``allowed_signers`` (OpenSSH format), ``<principal>.pub`` (one SSH key)."""


def parse_verify(verify: dict[str, Any] | None, *, ref_is_tag: bool) -> VerifySpec | None:
    """``spec.verify``, or None; a tag mode needs a tag (or semver) ref."""
    if not verify:
        return None
    try:
        mode = VerifyMode(verify.get("mode") or VerifyMode.HEAD)
    except ValueError:
        raise InvalidSpecError(
            f"spec.verify.mode: {verify.get('mode')!r} is not one of HEAD, Tag, TagAndHEAD"
        ) from None
    name = str((verify.get("secretRef") or {}).get("name") or "")
    if not name:
        raise InvalidSpecError("spec.verify.secretRef.name is required: the Secret of trusted keys")
    if mode.checks_tag and not ref_is_tag:
        raise InvalidSpecError(
            f"spec.verify.mode {mode.value} verifies a tag: spec.ref must name a tag or a"
            " semver range (use mode HEAD for a branch or a commit)"
        )
    return VerifySpec(mode, name)
