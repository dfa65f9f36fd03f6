"""Splitting signed commits and tags, and reading what gpgv and ssh-keygen -Y report."""

from __future__ import annotations

import pytest

from gitops_operator.source.signatures import (
    ObjectKind,
    SignatureFormat,
    Signer,
    parse_gpg_status,
    parse_ssh_good,
    signed_object,
    split_commit,
    split_tag,
    ssh_fingerprint,
)

HEAD = (
    b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    b"author Dev <dev@example.com> 1700000000 +0000\n"
    b"committer Dev <dev@example.com> 1700000000 +0000\n"
)
SIG_HEADER = (
    b"gpgsig -----BEGIN SSH SIGNATURE-----\n"
    b" U1NIU0lHAAAAAQ\n"
    b" AAAAQM96on9L6E=\n"
    b" -----END SSH SIGNATURE-----\n"
)
SIGNATURE = (
    b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ\nAAAAQM96on9L6E=\n-----END SSH SIGNATURE-----\n"
)


def test_a_commit_signature_is_its_gpgsig_header_and_the_payload_the_rest():
    raw = HEAD + SIG_HEADER + b"\nsigned\n"
    payload, signature = split_commit(raw)
    assert payload == HEAD + b"\nsigned\n"
    assert signature == SIGNATURE
    assert signed_object(ObjectKind.COMMIT, "a" * 40, raw).format is SignatureFormat.SSH


def test_an_unsigned_commit_has_no_signature():
    obj = signed_object(ObjectKind.COMMIT, "a" * 40, HEAD + b"\nplain\n")
    assert obj.signature == b"" and obj.format is None
    assert obj.payload == HEAD + b"\nplain\n"


def test_a_signature_quoted_in_the_message_is_not_a_signature():
    raw = HEAD + b"\nmessage\ngpgsig -----BEGIN PGP SIGNATURE-----\n x\n"
    assert split_commit(raw) == (raw, b"")


def test_a_sha256_signature_header_is_left_out_of_the_payload_but_not_used():
    raw = HEAD + b"gpgsig-sha256 -----BEGIN PGP SIGNATURE-----\n abc\n"
    raw += b" -----END PGP SIGNATURE-----\n"
    payload, signature = split_commit(raw + b"\nm\n")
    assert payload == HEAD + b"\nm\n" and signature == b""


def test_two_signature_headers_count_as_unsigned():
    raw = HEAD + SIG_HEADER + SIG_HEADER + b"\nm\n"
    assert split_commit(raw)[1] == b""


def test_a_tag_signature_is_the_tail_from_the_last_signature_block():
    head = b"object " + b"a" * 40 + b"\ntype commit\ntag v1\ntagger Dev <d@e> 1 +0000\n\nnotes\n"
    quoted = b"-----BEGIN PGP SIGNATURE-----\nnot this one\n"
    sig = b"-----BEGIN PGP SIGNATURE-----\n\nabc\n-----END PGP SIGNATURE-----\n"
    assert split_tag(head + quoted + sig) == (head + quoted, sig)
    assert split_tag(head) == (head, b"")
    assert signed_object(ObjectKind.TAG, "b" * 40, head + sig).format is SignatureFormat.OPENPGP


def test_an_x509_signature_is_recognised_as_such():
    obj = signed_object(ObjectKind.TAG, "b" * 40, b"tag\n\n-----BEGIN SIGNED MESSAGE-----\nx\n")
    assert obj.format is SignatureFormat.X509


FPR = "02B29E5D1E97790BB1D1C7487A4C07B431741F99"
GOOD = f"""[GNUPG:] NEWSIG
[GNUPG:] KEY_CONSIDERED {FPR} 0
[GNUPG:] SIG_ID jQaPJgNN/e/4ZYIc8mtjhp1ovzg 2026-11-29 1795958897
[GNUPG:] GOODSIG 7A4C07B431741F99 Alice <alice@example.com>
[GNUPG:] VALIDSIG 1111111111111111111111111111111111111111 2026-11-29 1795958897 0 4 0 22 8 00 {FPR}
"""


def test_gpgv_good_and_valid_names_the_user_id_and_the_primary_fingerprint():
    verdict = parse_gpg_status(GOOD)
    assert verdict.signer == Signer(SignatureFormat.OPENPGP, "Alice <alice@example.com>", FPR)


@pytest.mark.parametrize(
    ("status", "words", "key"),
    [
        (
            "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 7A4C07B431741F99 22 8 00 1795958897 9 " + FPR,
            "not trusted",
            FPR,
        ),
        (
            "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 7A4C07B431741F99 22 8 00 1795958897 9 -\n"
            "[GNUPG:] NO_PUBKEY 7A4C07B431741F99",
            "not trusted",
            "7A4C07B431741F99",
        ),
        (
            "[GNUPG:] NEWSIG\n[GNUPG:] BADSIG 7A4C07B431741F99 Alice",
            "bad signature",
            "7A4C07B431741F99",
        ),
        (GOOD.replace("GOODSIG", "REVKEYSIG"), "revoked key", "7A4C07B431741F99"),
        (GOOD.replace("GOODSIG", "EXPKEYSIG"), "expired key", "7A4C07B431741F99"),
    ],
)
def test_gpgv_refusals_say_why_and_name_the_key(status, words, key):
    verdict = parse_gpg_status(status)
    assert verdict.signer is None
    assert words in verdict.problem
    assert verdict.key == key


def test_every_signature_must_be_good():
    bad = "[GNUPG:] NEWSIG\n[GNUPG:] ERRSIG 1234567812345678 22 8 00 1795958897 9 -\n"
    assert parse_gpg_status(GOOD + bad).signer is None
    assert parse_gpg_status(GOOD + GOOD).signer is not None


def test_gpgv_saying_nothing_is_not_a_good_signature():
    assert parse_gpg_status("").signer is None
    assert parse_gpg_status("gpgv: Good signature\n").signer is None
    assert parse_gpg_status(GOOD.replace("[GNUPG:] VALIDSIG", "[GNUPG:] X")).signer is None


def test_ssh_keygen_good_lines():
    key = "ED25519 key SHA256:phfkcvtlsDjex7ZbUgDmwi8grkMHv60Z4yqY/v75EDw"
    assert parse_ssh_good(f'Good "git" signature for bob@example.com with {key}\n') == (
        "bob@example.com",
        key,
    )
    assert parse_ssh_good(f'Good "git" signature with {key}') == ("", key)
    assert parse_ssh_good(f'Good "file" signature for bob with {key}') is None
    assert parse_ssh_good("Could not verify signature.") is None
    assert ssh_fingerprint(key) == "SHA256:phfkcvtlsDjex7ZbUgDmwi8grkMHv60Z4yqY/v75EDw"
