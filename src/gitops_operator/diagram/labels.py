"""What the diagram says: text made safe for XML, cut or wrapped to fit, and revisions,
times and counts in their short forms."""

from __future__ import annotations

import re
from typing import Any

from ..api import sha_of
from ..errors import redact

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_STAMP = re.compile(r"\d{4}-(\d\d-\d\d)T(\d\d:\d\d)")
_WORD_START = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def clean(text: str) -> str:
    """Credentials redacted, characters XML 1.0 cannot hold removed, one line."""
    return _ILLEGAL_XML.sub("", redact(text)).replace("\n", " ").strip()


def wrap(text: str, width: float, size: float) -> list[str]:
    """One line, or two broken after a ``/`` (or anywhere) if it does not fit."""
    limit = max(1, int(width / (0.6 * size)))
    if len(text) <= limit:
        return [text]
    cut = text.rfind("/", 0, limit) + 1 or limit
    return [text[:cut], text[cut:]]


def wrap_words(text: str, width: float, size: float) -> list[str]:
    """``text`` in as many lines as it takes, broken between CamelCase words (or, for a
    word longer than a line, inside it): nothing is left out."""
    limit = max(1, int(width / (0.6 * size)))
    lines: list[str] = []
    for word in _WORD_START.split(text):
        for piece in (word[i : i + limit] for i in range(0, len(word), limit)):
            if lines and len(lines[-1]) + len(piece) <= limit:
                lines[-1] += piece
            else:
                lines.append(piece)
    return lines or [""]


def natural(name: str) -> list[str | int]:
    """``web-2`` before ``web-10``."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def fit(text: str, width: float, size: float) -> str:
    # DejaVu Sans averages about 0.6em per character: close enough to avoid overflow.
    limit = max(1, int(width / (0.6 * size)))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def short_sha(revision: str) -> str:
    return sha_of(revision)[:7]


def short_rev(revision: str) -> str:
    """``main@sha1:<sha>`` -> ``main@<sha[:7]>``; empty -> ``none``."""
    if not revision:
        return "none"
    name = revision.partition("@")[0] if "@" in revision else ""
    return f"{name}@{short_sha(revision)}" if name else short_sha(revision)


def short_time(stamp: str) -> str:
    match = _STAMP.match(stamp)
    return f"{match.group(1)} {match.group(2)}" if match else stamp


def signed_by(verification: Any) -> str:
    """``Alice <a@example.com> · 5B92A1B343F63407`` from ``status.artifact.verification``
    (the tag's signer before the commit's; an OpenPGP fingerprint as its long key ID)."""
    if not isinstance(verification, dict):
        return ""
    entry = verification.get("tag") or verification.get("commit")
    if not isinstance(entry, dict):
        return ""
    fingerprint = str(entry.get("fingerprint") or "")
    short = fingerprint[:19] if fingerprint.startswith("SHA256:") else fingerprint[-16:]
    return f"{entry.get('signer') or '?'} · {short}"
