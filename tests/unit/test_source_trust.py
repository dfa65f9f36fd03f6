"""Trusted keys from a Secret: key names say what a value is; anything else is refused."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from gitops_operator.errors import InvalidSpecError
from gitops_operator.source.trust import crc24, trusted_keys

FIXTURES = Path(__file__).parent / "fixtures" / "signatures"
ALICE = (FIXTURES / "alice.asc").read_text()
ALICE_BINARY_SHA256 = "86d9c1f17ac5540bafb4fa386a95cdbcd7ab417d87e339164095762be1dd4391"
"""sha256 of ``gpg --export`` (binary) of the key that ``alice.asc`` holds armored."""
BOB = (FIXTURES / "bob.pub").read_text()
PRIVATE = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nx\n-----END PGP PRIVATE KEY BLOCK-----\n"


def data(**values: str) -> dict[str, str]:
    """Secret data; ``_dot_`` in a keyword stands for ``.`` (``alice_dot_asc``)."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    return {k.replace("_dot_", "."): v for k, v in encoded.items()}


def test_an_armored_key_becomes_the_binary_key_gpg_exports():
    keys = trusted_keys("ns/keys", data(alice_dot_asc=ALICE))
    assert hashlib.sha256(keys.openpgp).hexdigest() == ALICE_BINARY_SHA256
    assert keys.allowed_signers == ""


def test_several_blocks_in_one_value_are_all_trusted():
    keys = trusted_keys("ns/keys", data(team=ALICE + "\n" + ALICE))
    assert len(keys.openpgp) == 2 * len(trusted_keys("ns/k", data(a=ALICE)).openpgp)


def test_a_pub_key_is_trusted_for_the_principal_its_name_gives():
    keys = trusted_keys("ns/keys", data(bob_dot_pub=BOB))
    key_type, blob = BOB.split()[:2]
    assert keys.allowed_signers == f"bob {key_type} {blob}\n"
    assert keys.openpgp == b""


def test_allowed_signers_is_taken_as_written_beside_pub_keys():
    line = f'dev@example.com namespaces="git" {" ".join(BOB.split()[:2])}'
    keys = trusted_keys("ns/keys", data(allowed_signers=line + "\n", bob_dot_pub=BOB))
    assert keys.allowed_signers.splitlines()[0] == line
    assert keys.allowed_signers.splitlines()[1].startswith("bob ssh-ed25519 ")


def test_a_damaged_armor_is_refused():
    lines = ALICE.splitlines()
    body = next(i for i, line in enumerate(lines) if line and i > 1)
    lines[body] = ("B" if lines[body][0] != "B" else "C") + lines[body][1:]
    with pytest.raises(InvalidSpecError, match="checksum mismatch"):
        trusted_keys("ns/keys", data(alice_dot_asc="\n".join(lines) + "\n"))


@pytest.mark.parametrize(
    ("values", "words"),
    [
        (data(notes="hello"), "key 'notes' is not an armored OpenPGP public key"),
        (
            data(k=PRIVATE),
            "a private key",
        ),
        (data(bob_dot_pub="ssh-ed25519 not-base64!"), "not one OpenSSH public key line"),
        (data(bob_dot_pub=BOB + BOB), "not one OpenSSH public key line"),
        (data(bob_dot_pub="ssh-rsa " + BOB.split()[1]), "not one OpenSSH public key line"),
        (data(allowed_signers="# nobody\n"), "holds no trusted key"),
        ({}, "holds no trusted key"),
        ({"a.asc": "***"}, "is not base64"),
    ],
)
def test_a_value_that_is_no_public_key_is_refused_by_its_key_name(values, words):
    with pytest.raises(InvalidSpecError, match=words) as caught:
        trusted_keys("ns/keys", values)
    assert caught.value.reason == "InvalidSecret"
    assert "ns/keys" in caught.value.message


def test_crc24_of_the_empty_input_is_its_initial_value():
    assert crc24(b"") == 0xB704CE
    assert crc24(b"123456789") == 0x21CF02  # the CRC-24/OPENPGP check value
