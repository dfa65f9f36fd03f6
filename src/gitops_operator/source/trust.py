"""The keys a GitRepository trusts to sign, from the Secret its ``spec.verify`` names.

Key names say what a value is:

- ``allowed_signers``: an OpenSSH allowed-signers file (``ssh-keygen(1)``, ALLOWED
  SIGNERS), taken as written: principals, options and keys;
- ``<principal>.pub``: one OpenSSH public key (``ssh-ed25519 AAAA... comment``), trusted
  for the principal named by the key (``alice.pub``: ``alice``);
- any other key: ASCII-armored OpenPGP public keys (``gpg --export --armor``), one block
  or several, as Flux reads its verification Secrets (``author.asc``).

A value that is none of these is refused with its key's name, never skipped, and so is a
private key. Pure: the armor is undone here, so ``gpgv`` needs no ``gpg`` to import.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InvalidSpecError

ALLOWED_SIGNERS_KEY = "allowed_signers"
SSH_KEY_SUFFIX = ".pub"
_ARMOR = re.compile(
    rb"-----BEGIN PGP (?P<kind>[A-Z ]+)-----\r?\n(?P<body>.*?)-----END PGP (?P=kind)-----",
    re.DOTALL,
)
_SSH_KEY = re.compile(r"(?P<type>(?:ssh|ecdsa-sha2|sk-ssh|sk-ecdsa)-[a-z0-9@.-]+) (?P<blob>\S+)")
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


@dataclass(frozen=True, slots=True, repr=False)
class TrustedKeys:
    """``openpgp``: a binary keyring (transferable public keys, concatenated) for ``gpgv
    --keyring``; ``allowed_signers``: an OpenSSH allowed-signers file."""

    openpgp: bytes
    allowed_signers: str
    source: str
    """The Secret, ``namespace/name``, for messages."""

    def __repr__(self) -> str:
        return f"TrustedKeys({self.source})"


def trusted_keys(source: str, data: Mapping[str, str]) -> TrustedKeys:
    """Read a Secret's ``data`` (base64 values); ``InvalidSpecError`` (reason
    ``InvalidSecret``) naming the key of a value that holds no public key."""
    keyring: list[bytes] = []
    signers: list[str] = []
    for name in sorted(data):
        where = f"Secret {source} key {name!r}"
        try:
            value = base64.b64decode(data[name], validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(f"{where} is not base64") from None
        if name == ALLOWED_SIGNERS_KEY:
            signers.append(_text(value, where))
        elif name.endswith(SSH_KEY_SUFFIX):
            principal = name.removesuffix(SSH_KEY_SUFFIX)
            signers.append(ssh_signer(principal, _text(value, where), where))
        else:
            keyring.extend(dearmor_public_keys(value, where))
    if not keyring and not any(line for text in signers for line in _lines(text)):
        raise _invalid(
            f"Secret {source} holds no trusted key: add armored OpenPGP public keys,"
            f" {ALLOWED_SIGNERS_KEY}, or <principal>{SSH_KEY_SUFFIX} SSH public keys"
        )
    return TrustedKeys(b"".join(keyring), "".join(f"{text.strip()}\n" for text in signers), source)


def ssh_signer(principal: str, text: str, where: str) -> str:
    """The allowed-signers line trusting the one SSH public key ``text`` for ``principal``."""
    lines = _lines(text)
    match = _SSH_KEY.match(lines[0]) if len(lines) == 1 else None
    if match is None or not principal or not _is_ssh_blob(match["type"], match["blob"]):
        raise _invalid(f"{where} is not one OpenSSH public key line (type, base64 key, comment)")
    return f"{principal} {match['type']} {match['blob']}"


def dearmor_public_keys(value: bytes, where: str) -> list[bytes]:
    """The binary packets of each ``PGP PUBLIC KEY BLOCK`` in ``value``, checksum checked."""
    blocks = list(_ARMOR.finditer(value))
    if any(block["kind"] != b"PUBLIC KEY BLOCK" for block in blocks):
        raise _invalid(f"{where} holds a PGP block other than a public key (a private key?)")
    if not blocks:
        raise _invalid(
            f"{where} is not an armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY"
            f" BLOCK-----), nor {ALLOWED_SIGNERS_KEY}, nor an SSH key named <principal>.pub"
        )
    return [_dearmor(block["body"], where) for block in blocks]


def _dearmor(body: bytes, where: str) -> bytes:
    lines = [line.strip() for line in body.decode("ascii", "replace").splitlines()]
    if "" in lines:  # armor headers (Version: ..., Comment: ...) end at an empty line
        lines = lines[lines.index("") + 1 :]
    checksum = next((line[1:] for line in lines if line.startswith("=")), None)
    encoded = "".join(line for line in lines if line and not line.startswith("="))
    try:
        packets = base64.b64decode(encoded, validate=True)
        expected = base64.b64decode(checksum, validate=True) if checksum else None
    except (binascii.Error, ValueError):
        raise _invalid(f"{where}: the armored key is damaged (not base64)") from None
    if not packets or (expected is not None and expected != crc24(packets).to_bytes(3, "big")):
        raise _invalid(f"{where}: the armored key is damaged (checksum mismatch)")
    return packets


def crc24(data: bytes) -> int:
    """The OpenPGP armor checksum (RFC 4880, 6.1)."""
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def _is_ssh_blob(key_type: str, blob: str) -> bool:
    """An SSH key blob starts with its own type name (RFC 4253, 6.6)."""
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        return False
    size = int.from_bytes(raw[:4], "big")
    return raw[4 : 4 + size] == key_type.encode()


def _text(value: bytes, where: str) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise _invalid(f"{where} is not text") from None


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _invalid(message: str) -> InvalidSpecError:
    return InvalidSpecError(message, reason="InvalidSecret")
