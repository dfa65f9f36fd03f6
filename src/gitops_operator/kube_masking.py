"""Masking of Secret values in the API server's error messages (pure: no I/O)."""

from __future__ import annotations

import base64
import json
import re
from contextlib import suppress
from typing import Any

# How the API server quotes a value it refuses: a typed-patch error prints the value
# (``&value.valueUnstructured{Value:12345}``), validation prints ``Invalid value: "..."``
# or ``Invalid value: 12345``.
_QUOTED_VALUES = (
    re.compile(r"(valueUnstructured\{Value:)[^\n]*"),
    re.compile(r'(Invalid value: )(?:"(?:[^"\\]|\\.)*"|[^:,\s]+)'),
    re.compile(r"(got (?:string|int|float|bool|map|list|slice)\W*)\S+"),
)
_MASK = "***"


def mask_secret_values(message: str, secret: dict[str, Any]) -> str:
    """``message`` without any value of ``secret``'s ``data`` or ``stringData`` (raw,
    base64-decoded or printed as Go prints it) and without the values the API server
    quotes, whatever they are: an error about a Secret must not carry its content."""
    for pattern in _QUOTED_VALUES:
        message = pattern.sub(lambda match: match.group(1) + _MASK, message)
    for value in sorted(_secret_strings(secret), key=len, reverse=True):
        message = message.replace(value, _MASK)
    return message


def _secret_strings(secret: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for field in ("data", "stringData"):
        values = secret.get(field)
        if not isinstance(values, dict):
            continue
        for value in values.values():
            texts = {str(value), json.dumps(value)}
            if isinstance(value, str):
                with suppress(ValueError, UnicodeDecodeError):
                    texts.add(base64.b64decode(value, validate=True).decode())
            found |= {t.strip('"') for t in texts}
    return {t for t in found if len(t) >= 3}
