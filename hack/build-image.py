"""Build the operator's image without a container engine or a registry.

Three layers, as the Dockerfile makes them: the Debian root filesystem of
``hack/image/rootfs.sh`` (python3, git, openssh-client, CA certificates, user 65532), the
project's wheel and its dependencies in ``/usr/local/lib/python3.X/dist-packages`` with
the ``gitops-operator`` command, and the pinned helm and kustomize in ``/usr/local/bin``.
Written by hack/ociimage.py with fixed times and owners: the same inputs give the same
digest. The result is cached in ``~/.cache/gitops-operator/images`` under a key of its
inputs (this script, the rootfs recipe, pyproject.toml, src/, the helm and kustomize
binaries), so a second build is a lookup.

    python hack/build-image.py            # print the tar, the ref, digest and sizes
    python hack/build-image.py --rebuild  # ignore the cache
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

import ociimage

HACK = Path(__file__).resolve().parent
ROOT = HACK.parent
REPOSITORY = "localhost/gitops-operator/operator"
PYTHON = "3.13"  # the python3 of hack/image/packages.txt's suite
SITE = f"usr/local/lib/python{PYTHON}/dist-packages"
ENTRYPOINT = """\
#!/usr/bin/python3
import sys

from gitops_operator.cli import main

sys.exit(main())
"""
ENV = [
    "PATH=/usr/local/bin:/usr/bin:/bin",
    "PYTHONDONTWRITEBYTECODE=1",
    "PYTHONUNBUFFERED=1",
    "GITOPS_HELM_BINARY=/usr/local/bin/helm",
    "GITOPS_KUSTOMIZE_BINARY=/usr/local/bin/kustomize",
    "GITOPS_CACHE_DIR=/var/cache/gitops-operator/artifacts",
]
USER = "65532"
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
        HACK / "build-image.py",
        HACK / "ociimage.py",
        *sorted((HACK / "image").iterdir()),
        ROOT / "pyproject.toml",
        *sorted(
            p for p in (ROOT / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts
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
        raise RuntimeError(f"the root filesystem has {found}, build-image.py expects {PYTHON}")


def _python(stage: Path, wheels: Path) -> None:
    """The project's wheel and its dependencies' wheels (CPython, manylinux) in the
    image's dist-packages; the console script is written by hand for /usr/bin/python3."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(ROOT)], check=True)
    (wheel,) = wheels.glob("gitops_operator-*.whl")
    target = stage / SITE
    subprocess.run(
        [
            *pip,
            "install",
            "--no-compile",
            "--target",
            str(target),
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            PYTHON,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            str(wheel),
        ],
        check=True,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)
    for path in target.glob("*.dist-info/direct_url.json"):
        path.unlink()  # names the build's temporary directory; so does its RECORD line
        record = path.with_name("RECORD")
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(x for x in lines if "/direct_url.json," not in x))
    for path in target.rglob("__pycache__"):
        shutil.rmtree(path)
    script = stage / "usr" / "local" / "bin" / "gitops-operator"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(ENTRYPOINT)
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


def build(bin_dir: Path, *, rebuild: bool = False, cache: Path | None = None) -> dict[str, object]:
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
            labels={"org.opencontainers.image.title": "gitops-operator"},
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
        f"{int(built['compressed_bytes']) / 1e6:.1f} MB compressed,"  # type: ignore[call-overload]
        f" {int(built['uncompressed_bytes']) / 1e6:.1f} MB uncompressed;"  # type: ignore[call-overload]
        f" built in {built['seconds']}s{' (cached)' if built['cached'] else ''}"
    )


if __name__ == "__main__":
    main()
