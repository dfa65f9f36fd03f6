"""Verify the signature of a commit or tag with the real tools, trusting only the
GitRepository's keys: ``gpgv`` with a keyring built from its Secret, ``ssh-keygen -Y``
with an allowed-signers file built from it. Each verification runs in a private
temporary directory that is its whole world (HOME and GNUPGHOME included), so no keyring
or configuration of the host is ever read; each tool run is bounded in time.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from ..errors import SourceError, StalledError, VerificationError
from .signatures import (
    ObjectKind,
    SignatureFormat,
    SignedObject,
    Signer,
    first_principal,
    parse_gpg_status,
    parse_ssh_good,
    ssh_fingerprint,
)
from .trust import TrustedKeys

TOOL_TIMEOUT = 10.0
"""Seconds one gpgv or ssh-keygen run may take (they take milliseconds)."""
SSH_NAMESPACE = "git"
"""The namespace git signs in (``git commit -S`` with ``gpg.format=ssh``)."""
_PATH = "/usr/local/bin:/usr/bin:/bin"


def verify_object(obj: SignedObject, keys: TrustedKeys, *, name: str) -> Signer:
    """The signer of ``obj`` if a key of ``keys`` made its signature, else
    ``VerificationError`` saying what was found (``unsigned``, the key that signed).
    ``name`` says which object it is in messages (``commit 0123abc``, ``tag v1``)."""
    fmt = obj.format
    if fmt is None:
        raise VerificationError(f"{name} is unsigned" + _lightweight(obj))
    if fmt is SignatureFormat.X509:
        raise VerificationError(f"{name} has an X.509 signature; only OpenPGP and SSH are verified")
    with tempfile.TemporaryDirectory(prefix="gitops-verify-") as tmp:
        work = Path(tmp)
        (work / "payload").write_bytes(obj.payload)
        (work / "signature").write_bytes(obj.signature)
        if fmt is SignatureFormat.OPENPGP:
            return _verify_openpgp(work, keys, name)
        return _verify_ssh(work, keys, name)


def _lightweight(obj: SignedObject) -> str:
    if obj.kind is ObjectKind.TAG and not obj.sha:
        return " (a lightweight tag: only an annotated tag object carries a signature)"
    return ""


def _verify_openpgp(work: Path, keys: TrustedKeys, name: str) -> Signer:
    keyring = work / "trusted.gpg"
    keyring.write_bytes(keys.openpgp)
    (work / "gnupg").mkdir(mode=0o700)
    result = _run(
        work,
        "gpgv",
        f"--homedir={work / 'gnupg'}",
        f"--keyring={keyring}",
        "--status-fd=1",
        "--",
        str(work / "signature"),
        str(work / "payload"),
    )
    verdict = parse_gpg_status(result.stdout)
    if verdict.signer is None:
        raise VerificationError(f"{name}: {verdict.problem}")
    return verdict.signer


def _verify_ssh(work: Path, keys: TrustedKeys, name: str) -> Signer:
    signature = str(work / "signature")
    allowed = work / "allowed_signers"
    allowed.write_text(keys.allowed_signers)
    principals = _run(
        work, "ssh-keygen", "-Y", "find-principals", "-f", str(allowed), "-s", signature
    )
    principal = first_principal(principals.stdout) if principals.returncode == 0 else None
    if principal is None:
        # Name the key that signed: check-novalidate reads it from the signature alone.
        found = _run(
            work, "ssh-keygen", "-Y", "check-novalidate", "-n", SSH_NAMESPACE, "-s", signature
        )
        good = parse_ssh_good(found.stdout) if found.returncode == 0 else None
        if good is None:
            raise VerificationError(f"{name}: a bad SSH signature ({_detail(found)})")
        raise VerificationError(
            f"{name}: signed by SSH key {ssh_fingerprint(good[1])}, which is not trusted"
        )
    checked = _run(
        work,
        "ssh-keygen",
        "-Y",
        "verify",
        "-f",
        str(allowed),
        "-I",
        principal,
        "-n",
        SSH_NAMESPACE,
        "-s",
        signature,
    )
    verified = parse_ssh_good(checked.stdout) if checked.returncode == 0 else None
    if verified is None:
        raise VerificationError(
            f"{name}: the SSH signature of {principal} did not verify ({_detail(checked)})"
        )
    return Signer(SignatureFormat.SSH, verified[0], ssh_fingerprint(verified[1]))


def _run(work: Path, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``tool`` in ``work`` with the payload on stdin, an environment of its own."""
    env = {"PATH": _PATH, "HOME": str(work), "GNUPGHOME": str(work / "gnupg"), "LC_ALL": "C"}
    try:
        with (work / "payload").open("rb") as payload:
            raw = subprocess.run(
                [tool, *args],
                stdin=payload,
                capture_output=True,
                env=env,
                cwd=work,
                timeout=TOOL_TIMEOUT,
                check=False,
            )
    except FileNotFoundError:
        raise StalledError(
            f"{tool} is not installed: signature verification needs it", reason="VerifierMissing"
        ) from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{tool} took longer than {TOOL_TIMEOUT:.0f}s; will retry") from None
    return subprocess.CompletedProcess(
        raw.args,
        raw.returncode,
        raw.stdout.decode("utf-8", "replace"),
        raw.stderr.decode("utf-8", "replace"),
    )


def _detail(result: subprocess.CompletedProcess[str]) -> str:
    text = " ".join(line.strip() for line in result.stderr.splitlines() if line.strip())
    return text[:300] or f"exit status {result.returncode}"
