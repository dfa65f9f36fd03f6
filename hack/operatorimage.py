"""Build the operator's image without a container engine or a registry.

Three layers, as the Dockerfile makes them: the Debian root filesystem of
``hack/image/rootfs.sh`` (python3, git, openssh-client, CA certificates, user 65532), the
project's wheel and its dependencies in ``/usr/local/lib/python3.X/dist-packages`` with
the ``gitops-operator`` command, and the pinned helm and kustomize in ``/usr/local/bin``.
Written by hack/ociimage.py with fixed times and owners: the same inputs give the same
digest. The result is cached in ``~/.cache/gitops-operator/images`` under a key of its
inputs (this script, the rootfs recipe, pyproject.toml, README.md, the package, the helm
and kustomize binaries), so a second build is a lookup.

    python hack/operatorimage.py            # print the tar, the ref, digest and sizes
    python hack/operatorimage.py --rebuild  # ignore the cache
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ociimage

HACK = Path(__file__).resolve().parent
ROOT = HACK.parent
REPOSITORY = "localhost/gitops-operator/operator"
PYTHON = "3.13"  # the python3 of hack/image/packages.txt's suite
SITE = f"usr/local/lib/python{PYTHON}/dist-packages"
ENV = [
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
    "GITOPS_HELM_BINARY=/usr/local/bin/helm",
    "GITOPS_KUSTOMIZE_BINARY=/usr/local/bin/kustomize",
    "GITOPS_CACHE_DIR=/var/cache/gitops-operator/artifacts",
]
USER = "65532"
LABELS = {
    "org.opencontainers.image.title": "gitops-operator",
    "org.opencontainers.image.description": "A Kubernetes GitOps operator",
    "org.opencontainers.image.version": "0.1.0",
    "org.opencontainers.image.licenses": "Apache-2.0",
}
WORKDIR = "/home/gitops"


def _cache() -> Path:
    base = os.environ.get("GITOPS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"), "gitops-operator"
    )
    return Path(base)


def inputs_key(bin_dir: Path) -> str:
    """A digest of everything the image is made of."""
    digest = hashlib.sha256()
    files = [
        HACK / "operatorimage.py",
        HACK / "ociimage.py",
        *sorted((HACK / "image").iterdir()),
        ROOT / "pyproject.toml",
        ROOT / "README.md",  # the wheel's long description, in its METADATA
        *sorted(
            p
            for p in (ROOT / "src" / "gitops_operator").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        ),
        bin_dir / "helm",
        bin_dir / "kustomize",
    ]
    for path in files:
        digest.update(
            str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name).encode()
        )
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _rootfs(out: Path) -> None:
    subprocess.run([str(HACK / "image" / "rootfs.sh"), str(out)], check=True)
    found = sorted(p.name for p in (out / "usr" / "lib").glob("python3.*"))
    if found != [f"python{PYTHON}"]:
        raise RuntimeError(f"the root filesystem has {found}, operatorimage.py expects {PYTHON}")


def _python(stage: Path, wheels: Path) -> None:
    """The project's wheel and its dependencies' wheels (CPython, manylinux) in the image's
    dist-packages, by hack/image/site-packages.sh as the Dockerfile does; the command is
    hack/image/gitops-operator."""
    # the build backend at the version constraints.txt pins: it writes its name into the wheel
    pinned = {**os.environ, "PIP_CONSTRAINT": str(HACK / "image" / "constraints.txt")}
    with tempfile.TemporaryDirectory(prefix="gitops-wheel-") as tmp:
        # a copy of exactly what inputs_key covers: an in-tree build reuses build/lib,
        # which keeps modules since moved or deleted (they were in images built here)
        source = Path(tmp) / "project"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(ROOT / name, source / name)
        shutil.copytree(
            ROOT / "src" / "gitops_operator",
            source / "src" / "gitops_operator",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "-q",
                "wheel",
                "--no-deps",
                "-w",
                str(wheels),
                str(source),
            ],
            check=True,
            env=pinned,
        )
    (wheel,) = wheels.glob("gitops_operator-*.whl")
    # google-re2 publishes manylinux_2_28 wheels only; the image's glibc (Debian 13's)
    # runs both kinds
    platform = ["--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64"]
    platform += ["--python-version", PYTHON]
    platform += ["--implementation", "cp", "--only-binary=:all:"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    subprocess.run(
        [str(HACK / "image" / "site-packages.sh"), str(stage / SITE), str(wheel), *platform],
        check=True,
        env=env,
    )
    script = stage / "usr" / "local" / "bin" / "gitops-operator"
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HACK / "image" / "gitops-operator", script)
    script.chmod(0o755)


def _tools(stage: Path, bin_dir: Path) -> None:
    dest = stage / "usr" / "local" / "bin"
    dest.mkdir(parents=True)
    for tool in ("helm", "kustomize"):
        shutil.copyfile(bin_dir / tool, dest / tool)
        (dest / tool).chmod(0o755)


def _root_owned(tree: Path) -> None:
    for path in [tree, *tree.rglob("*")]:
        os.lchown(path, 0, 0)


def build(bin_dir: Path, *, rebuild: bool = False, cache: Path | None = None) -> dict[str, Any]:
    """Build (or find) the image; return what was built: tar, ref, digest, sizes, seconds."""
    cache = cache or _cache()
    key = inputs_key(bin_dir)
    ref = f"{REPOSITORY}:{key}"
    out = cache / "images" / f"operator-{key}.tar"
    meta = out.with_suffix(".json")
    if out.exists() and meta.exists() and not rebuild:
        return {**json.loads(meta.read_text()), "tar": str(out), "cached": True}
    began = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gitops-image-") as tmp:
        work = Path(tmp)
        rootfs = work / "rootfs"
        _rootfs(rootfs)
        python = work / "python"
        _python(python, work / "wheels")
        _root_owned(python)
        tools = work / "tools"
        _tools(tools, bin_dir)
        _root_owned(tools)
        image = ociimage.write_image(
            [ociimage.layer_tar(rootfs), ociimage.layer_tar(python), ociimage.layer_tar(tools)],
            out,
            ref,
            entrypoint=["gitops-operator"],
            cmd=["run"],
            env=ENV,
            user=USER,
            workdir=WORKDIR,
            labels=LABELS,
        )
    result = {
        "ref": image.ref,
        "digest": image.digest,
        "compressed_bytes": image.compressed_bytes,
        "uncompressed_bytes": image.uncompressed_bytes,
        "seconds": round(time.monotonic() - began, 1),
    }
    meta.write_text(json.dumps(result, indent=2))
    return {**result, "tar": str(out), "cached": False}


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HACK))
    import localcluster

    built = build(localcluster.bin_dir(), rebuild=args.rebuild)
    print(
        f"{built['ref']} {built['digest']}\n{built['tar']}\n"
        f"{int(built['compressed_bytes']) / 1e6:.1f} MB compressed,"
        f" {int(built['uncompressed_bytes']) / 1e6:.1f} MB uncompressed;"
        f" built in {built['seconds']}s{' (cached)' if built['cached'] else ''}"
    )


if __name__ == "__main__":
    main()
