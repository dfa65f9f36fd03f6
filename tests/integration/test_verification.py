"""spec.verify: signatures made in the tests with real gpg and ssh-keygen, verified by
the operator with gpgv and ssh-keygen -Y, over the real Git server and control plane."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import GitRepo, condition, events_for, get_status, wait_for
from .test_reconcile import synced_to

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("gpg", "gpg-agent", "gpgv", "ssh-keygen")),
    reason="needs gpg, gpg-agent, gpgv and ssh-keygen (hack/install-packages.sh)",
)


@dataclass
class Keys:
    """A throwaway GNUPGHOME with OpenPGP keys, and SSH key files, for signing."""

    home: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "GNUPGHOME": str(self.home / "gnupg")}

    def run(self, *args: str, cwd: Path | None = None) -> str:
        return subprocess.run(
            args, cwd=cwd, env=self.env, check=True, capture_output=True, text=True
        ).stdout.strip()

    def openpgp(self, uid: str) -> str:
        """A new signing key for ``uid``; its fingerprint."""
        self.run("gpg", "--batch", "--passphrase", "", "--quick-gen-key", uid, "ed25519", "sign")
        listing = self.run("gpg", "--list-keys", "--with-colons", uid)
        return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr"))

    def armored(self, fingerprint: str) -> str:
        return self.run("gpg", "--export", "--armor", fingerprint)

    def ssh(self, name: str) -> Path:
        """A new SSH key pair; the public key's path."""
        key = self.home / name
        self.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key))
        return key.with_suffix(".pub")

    def ssh_fingerprint(self, public: Path) -> str:
        return self.run("ssh-keygen", "-lf", str(public)).split()[1]

    def commit(
        self, repo: GitRepo, files: dict[str, str], *, key: str | Path | None, amend: bool = False
    ) -> str:
        """Commit ``files`` signed with ``key`` (a fingerprint, an SSH public key, or None
        for unsigned), push it to main (forced), return its SHA."""
        for rel, text in files.items():
            (repo.work / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo.work / rel).write_text(text)
        self.run("git", "add", "-A", cwd=repo.work)
        sign = ["-S"] if key else ["--no-gpg-sign"]
        again = ["--amend", "--no-edit"] if amend else ["-m", "update"]
        self.run(*self.git(key), "commit", "-q", "--allow-empty", *sign, *again, cwd=repo.work)
        self.run("git", "push", "-q", "-f", "origin", "HEAD:main", cwd=repo.work)
        return self.run("git", "rev-parse", "HEAD", cwd=repo.work)

    def tag(self, repo: GitRepo, name: str, *, key: str | Path | None) -> None:
        """An annotated tag on HEAD, signed with ``key`` (None: annotated, unsigned)."""
        sign = ["-s"] if key else ["-a"]
        self.run(*self.git(key), "tag", *sign, "-m", name, name, cwd=repo.work)
        self.run("git", "push", "-q", "origin", f"refs/tags/{name}", cwd=repo.work)

    def git(self, key: str | Path | None) -> list[str]:
        config = ["git", "-c", "user.name=Dev", "-c", "user.email=dev@example.com"]
        if isinstance(key, Path):
            config += ["-c", "gpg.format=ssh"]
        return [*config, "-c", f"user.signingkey={key}"] if key else config


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[Keys]:
    (tmp_path / "gnupg").mkdir(mode=0o700)
    keys = Keys(tmp_path)
    yield keys
    subprocess.run(["gpgconf", "--homedir", str(tmp_path / "gnupg"), "--kill", "all"], check=False)


def trusted(namespace: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "trusted-keys", "namespace": namespace},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def verified_repository(namespace: str, url: str, mode: str = "HEAD", **ref: str) -> dict:
    source = repository(namespace, url)
    source["spec"]["verify"] = {"mode": mode, "secretRef": {"name": "trusted-keys"}}
    if ref:
        source["spec"]["ref"] = ref
    return source


def artifact(kube, namespace: str) -> dict[str, Any]:
    return dict(get_status(kube, "GitRepository", namespace, "app").get("artifact") or {})


def published(kube, namespace: str, sha: str) -> dict[str, Any] | None:
    found = artifact(kube, namespace)
    return found if found.get("sha") == sha else None


def refused(kube, namespace: str) -> dict[str, Any] | None:
    cond = condition(get_status(kube, "GitRepository", namespace, "app"))
    ok = cond.get("status") == "False" and cond.get("reason") == "VerificationFailed"
    return cond if ok else None


def live_value(kube, namespace: str) -> str:
    obj = kube.get("v1", ObjectRef("", "ConfigMap", namespace, "a")) or {}
    return str((obj.get("data") or {}).get("value", ""))


def test_gpg_signed_commit_is_published_with_its_signer(kube, operator, repo, namespace, keys):
    alice = keys.openpgp("Alice <alice@example.com>")
    sha = keys.commit(repo, {"app/a.yaml": configmap("a", value="one")}, key=alice)
    kube.apply(trusted(namespace, **{"alice.asc": keys.armored(alice)}))
    kube.apply(verified_repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="a verified sync")
    verification = artifact(kube, namespace)["verification"]
    assert verification == {
        "mode": "HEAD",
        "commit": {
            "format": "openpgp",
            "signer": "Alice <alice@example.com>",
            "fingerprint": alice,
        },
    }
    ready = condition(get_status(kube, "GitRepository", namespace, "app"))
    assert "commit signed by Alice <alice@example.com>" in ready["message"]


def test_ssh_signed_commit_is_published_and_an_unknown_ssh_key_refused(
    kube, operator, repo, namespace, keys
):
    bob, mallory = keys.ssh("bob"), keys.ssh("mallory")
    sha = keys.commit(repo, {"app/a.yaml": configmap("a", value="one")}, key=bob)
    kube.apply(trusted(namespace, **{"bob.pub": bob.read_text()}))
    kube.apply(verified_repository(namespace, repo.url))
    found = wait_for(lambda: published(kube, namespace, sha), timeout=60, what="published")
    assert found["verification"]["commit"] == {
        "format": "ssh",
        "signer": "bob",
        "fingerprint": keys.ssh_fingerprint(bob),
    }
    keys.commit(repo, {"app/a.yaml": configmap("a", value="two")}, key=mallory)
    cond = wait_for(lambda: refused(kube, namespace), timeout=30, what="refused")
    assert (
        f"signed by SSH key {keys.ssh_fingerprint(mallory)}, which is not trusted"
        in (cond["message"])
    )
    assert artifact(kube, namespace)["sha"] == sha


def test_unsigned_commit_is_not_published_and_applications_stay(
    kube, operator, repo, namespace, keys
):
    alice = keys.openpgp("Alice <alice@example.com>")
    good = keys.commit(repo, {"app/a.yaml": configmap("a", value="one")}, key=alice)
    kube.apply(trusted(namespace, **{"alice.asc": keys.armored(alice)}))
    kube.apply(verified_repository(namespace, repo.url))
    kube.apply(application(namespace))
    wait_for(lambda: synced_to(kube, namespace, good), timeout=60, what="a verified sync")

    bad = keys.commit(repo, {"app/a.yaml": configmap("a", value="two")}, key=None)
    cond = wait_for(lambda: refused(kube, namespace), timeout=30, what="refused")
    assert f"commit {bad[:12]} is unsigned" in cond["message"]
    assert f"main@sha1:{good} stays the published artifact" in cond["message"]

    def warned() -> list[dict[str, Any]]:
        return [
            e
            for e in events_for(kube, namespace, "app")
            if e["type"] == "Warning" and e["reason"] == "VerificationFailed"
        ]

    assert "unsigned" in wait_for(warned, timeout=30, what="a Warning Event")[0]["message"]
    assert artifact(kube, namespace)["sha"] == good
    app = get_status(kube, "Application", namespace, "app")
    assert app["lastAppliedRevision"] == f"main@sha1:{good}"
    assert live_value(kube, namespace) == "one"
    assert bad not in str(app.get("history"))


def test_commit_signed_by_an_unknown_key_is_refused_naming_it(
    kube, operator, repo, namespace, keys
):
    alice = keys.openpgp("Alice <alice@example.com>")
    carol = keys.openpgp("Carol <carol@example.com>")
    keys.commit(repo, {"app/a.yaml": configmap("a")}, key=carol)
    kube.apply(trusted(namespace, **{"alice.asc": keys.armored(alice)}))
    kube.apply(verified_repository(namespace, repo.url))
    cond = wait_for(lambda: refused(kube, namespace), timeout=60, what="refused")
    assert f"signed by OpenPGP key {carol}, which is not trusted" in cond["message"]
    assert "nothing is published" in cond["message"]
    assert not artifact(kube, namespace)


def test_signed_then_amended_without_signing_is_refused(kube, operator, repo, namespace, keys):
    alice = keys.openpgp("Alice <alice@example.com>")
    signed = keys.commit(repo, {"app/a.yaml": configmap("a", value="one")}, key=alice)
    kube.apply(trusted(namespace, **{"alice.asc": keys.armored(alice)}))
    kube.apply(verified_repository(namespace, repo.url))
    wait_for(lambda: published(kube, namespace, signed), timeout=60, what="published")
    amended = keys.commit(repo, {"app/a.yaml": configmap("a", value="two")}, key=None, amend=True)
    cond = wait_for(lambda: refused(kube, namespace), timeout=30, what="refused")
    assert f"commit {amended[:12]} is unsigned" in cond["message"]
    assert artifact(kube, namespace)["sha"] == signed


@pytest.mark.parametrize(
    ("mode", "outcome"),
    [
        ("Tag", "published"),
        ("HEAD", "is unsigned"),
        ("TagAndHEAD", "is unsigned"),
    ],
)
def test_signed_tag_over_an_unsigned_commit(kube, operator, repo, namespace, keys, mode, outcome):
    alice = keys.openpgp("Alice <alice@example.com>")
    sha = keys.commit(repo, {"app/a.yaml": configmap("a")}, key=None)
    keys.tag(repo, "v1.0.0", key=alice)
    kube.apply(trusted(namespace, **{"alice.asc": keys.armored(alice)}))
    kube.apply(verified_repository(namespace, repo.url, mode, tag="v1.0.0"))
    if outcome == "published":
        found = wait_for(lambda: published(kube, namespace, sha), timeout=60, what="published")
        assert found["revision"] == f"v1.0.0@sha1:{sha}"
        assert found["verification"] == {
            "mode": "Tag",
            "tag": {
                "format": "openpgp",
                "signer": "Alice <alice@example.com>",
                "fingerprint": alice,
            },
        }
        return
    cond = wait_for(lambda: refused(kube, namespace), timeout=60, what="refused")
    assert f"commit {sha[:12]} is unsigned" in cond["message"]
    assert not artifact(kube, namespace)


def test_tag_mode_refuses_an_unsigned_annotated_tag(kube, operator, repo, namespace, keys):
    alice = keys.openpgp("Alice <alice@example.com>")
    keys.commit(repo, {"app/a.yaml": configmap("a")}, key=alice)
    keys.tag(repo, "v1.0.0", key=None)
    kube.apply(trusted(namespace, **{"alice.asc": keys.armored(alice)}))
    kube.apply(verified_repository(namespace, repo.url, "Tag", semver="^1.0.0"))
    cond = wait_for(lambda: refused(kube, namespace), timeout=60, what="refused")
    assert "tag v1.0.0 is unsigned" in cond["message"]
    assert not artifact(kube, namespace)
