"""Signed Git objects and what the verifying tools say about them: pure functions.

A commit carries its signature in a ``gpgsig`` header; what was signed is the commit
without that header. A tag carries it at the end of its message; what was signed is
everything before it. ``gpgv --status-fd`` and ``ssh-keygen -Y`` report in stable,
documented words, read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ObjectKind(StrEnum):
    COMMIT = "commit"
    TAG = "tag"


class SignatureFormat(StrEnum):
    OPENPGP = "openpgp"
    SSH = "ssh"
    X509 = "x509"


_BEGIN = {
    b"-----BEGIN PGP SIGNATURE-----": SignatureFormat.OPENPGP,
    b"-----BEGIN PGP MESSAGE-----": SignatureFormat.OPENPGP,
    b"-----BEGIN SSH SIGNATURE-----": SignatureFormat.SSH,
    b"-----BEGIN SIGNED MESSAGE-----": SignatureFormat.X509,
}
_SIGNATURE_HEADERS = (b"gpgsig", b"gpgsig-sha256")
"""Headers holding a commit's signatures (SHA-1 and SHA-256 object formats); none of
them is part of what was signed. This operator fetches SHA-1 repositories: ``gpgsig``."""


@dataclass(frozen=True, slots=True)
class SignedObject:
    """A commit or tag object split into what was signed and its signature (empty:
    unsigned). ``sha`` is empty for a tag ref that names no tag object."""

    kind: ObjectKind
    sha: str
    payload: bytes
    signature: bytes

    @property
    def format(self) -> SignatureFormat | None:
        return _BEGIN.get(self.signature.split(b"\n", 1)[0].strip())


@dataclass(frozen=True, slots=True)
class Signer:
    """Who signed an object, as the tool that verified it names them."""

    format: SignatureFormat
    identity: str
    """The OpenPGP user ID of the key, or the SSH principal of allowed_signers."""
    fingerprint: str
    """The primary key's fingerprint (OpenPGP), or the key's SHA256 fingerprint (SSH)."""

    def to_status(self) -> dict[str, str]:
        return {
            "format": self.format.value,
            "signer": self.identity,
            "fingerprint": self.fingerprint,
        }


def signed_object(kind: ObjectKind, sha: str, raw: bytes) -> SignedObject:
    """Split the raw bytes of a commit or tag object (``git cat-file <kind> <sha>``)."""
    if kind is ObjectKind.COMMIT:
        payload, signature = split_commit(raw)
    else:
        payload, signature = split_tag(raw)
    return SignedObject(kind, sha, payload, signature)


def split_commit(raw: bytes) -> tuple[bytes, bytes]:
    """(payload, signature): the ``gpgsig`` header's value (continuation lines start with
    a space), and the commit without any signature header. Only headers, which end at the
    first empty line, are looked at: a message quoting a header is not a signature."""
    head, blank, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    signature: list[bytes] = []
    current: list[bytes] | None = None
    seen = 0
    for line in head.split(b"\n"):
        if current is not None and line.startswith(b" "):
            current.append(line[1:])
            continue
        name, _, value = line.partition(b" ")
        if name in _SIGNATURE_HEADERS:
            current = signature if name == b"gpgsig" else []
            seen += name == b"gpgsig"
            current.append(value)
            continue
        current = None
        kept.append(line)
    if seen > 1:  # which one would count? Refuse to pick: the object is not signed as one.
        return raw, b""
    payload = b"\n".join(kept) + blank + body
    return payload, (b"\n".join(signature) + b"\n") if signature else b""


def split_tag(raw: bytes) -> tuple[bytes, bytes]:
    """(payload, signature): the signature is the tail from the last line that begins a
    signature block; the payload is everything before it."""
    start = len(raw)
    offset = 0
    for line in raw.splitlines(keepends=True):
        if line.rstrip(b"\r\n") in _BEGIN:
            start = offset
        offset += len(line)
    return raw[:start], raw[start:]


# -- gpgv --status-fd -------------------------------------------------------------------

_BAD_STATUS = ("BADSIG", "ERRSIG", "EXPSIG", "EXPKEYSIG", "REVKEYSIG", "NO_PUBKEY")


@dataclass(frozen=True, slots=True)
class GpgVerdict:
    """What ``gpgv --status-fd`` said: a ``signer`` when every signature is good, else
    ``problem`` (words a user can act on) and the ``key`` that signed, if gpgv named it."""

    signer: Signer | None
    problem: str = ""
    key: str = ""


def parse_gpg_status(text: str) -> GpgVerdict:
    """Read ``[GNUPG:]`` status lines. Good means: at least one signature, and each one
    reported GOODSIG and VALIDSIG with no BADSIG, ERRSIG, expired or revoked key."""
    blocks: list[dict[str, list[str]]] = []
    for line in text.splitlines():
        words = line.split(" ")
        if len(words) < 2 or words[0] != "[GNUPG:]":
            continue
        keyword, args = words[1], words[2:]
        if keyword == "NEWSIG" or not blocks:
            blocks.append({})
        blocks[-1].setdefault(keyword, args)
    if not blocks:
        return GpgVerdict(None, "gpgv found no signature it could read")
    signer: Signer | None = None
    for block in blocks:
        verdict = _gpg_block(block)
        if verdict.signer is None:
            return verdict
        signer = signer or verdict.signer
    return GpgVerdict(signer)


def _gpg_block(block: dict[str, list[str]]) -> GpgVerdict:
    bad = next((keyword for keyword in _BAD_STATUS if keyword in block), None)
    if bad is not None:
        args = block[bad]
        key = args[0] if args else ""
        if bad == "ERRSIG" and len(args) >= 7 and args[6] not in ("", "-"):
            key = args[6]  # the issuer's fingerprint, when the signature carries it
        if bad in ("ERRSIG", "NO_PUBKEY"):
            return GpgVerdict(None, f"signed by OpenPGP key {key}, which is not trusted", key)
        words = {
            "BADSIG": "a bad signature (the object was changed after signing)",
            "EXPSIG": "an expired signature",
            "EXPKEYSIG": "a signature by an expired key",
            "REVKEYSIG": "a signature by a revoked key",
        }
        return GpgVerdict(None, f"{words[bad]} of OpenPGP key {key}", key)
    good, valid = block.get("GOODSIG"), block.get("VALIDSIG")
    if not good or not valid:
        return GpgVerdict(None, "gpgv did not report a good and valid signature")
    primary = valid[9] if len(valid) >= 10 else valid[0]
    return GpgVerdict(Signer(SignatureFormat.OPENPGP, " ".join(good[1:]), primary))


# -- ssh-keygen -Y ----------------------------------------------------------------------

_SSH_GOOD = re.compile(r'^Good "git" signature (?:for (?P<principal>.+) )?with (?P<key>.+)$')


def parse_ssh_good(text: str) -> tuple[str, str] | None:
    """(principal, key) from ``ssh-keygen -Y verify`` (principal) or ``-Y check-novalidate``
    (principal empty): ``Good "git" signature for P with ED25519 key SHA256:...``."""
    for line in text.splitlines():
        match = _SSH_GOOD.match(line.strip())
        if match:
            return match.group("principal") or "", match.group("key")
    return None


def ssh_fingerprint(key: str) -> str:
    """``SHA256:...`` from ``ED25519 key SHA256:...`` (the whole text if not there)."""
    return next((word for word in key.split() if word.startswith("SHA256:")), key)


def first_principal(text: str) -> str | None:
    """The first principal ``ssh-keygen -Y find-principals`` printed."""
    return next((line.strip() for line in text.splitlines() if line.strip()), None)
