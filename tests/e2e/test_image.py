"""The operator image hack/operatorimage.py builds: the Dockerfile's file tree and config,
non-root, and the same digest from the same inputs."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

import operatorimage
from localcluster import HACK, bin_dir
from realnode import cannot_run

DOCKERFILE = HACK.parent / "Dockerfile"


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    if reason := cannot_run(bin_dir()):
        pytest.skip(f"the image build needs mmdebstrap as root: {reason}")
    result: dict[str, Any] = operatorimage.build(bin_dir())
    return result


def read_image(tar: Path) -> tuple[dict[str, Any], list[tarfile.TarInfo]]:
    """The image config and every entry of its layers, the upper layer's winning."""
    with tarfile.open(tar) as image:
        (manifest,) = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(image.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        entries: dict[str, tarfile.TarInfo] = {}
        for layer in manifest["Layers"]:
            data = gzip.decompress(image.extractfile(layer).read())  # type: ignore[union-attr]
            with tarfile.open(fileobj=io.BytesIO(data)) as contents:
                for member in contents.getmembers():
                    entries[member.name.rstrip("/")] = member
    return config, list(entries.values())


def final_stage() -> list[tuple[str, str]]:
    """(instruction, arguments) of the Dockerfile's last stage, continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    start = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines[start:]]


def test_the_image_has_the_dockerfiles_config_and_tree(built: dict[str, Any]):
    config, entries = read_image(Path(built["tar"]))
    stage = final_stage()
    assert stage[0] == ("FROM", "scratch")
    declared = dict(stage)
    env = dict(item.split("=", 1) for item in shlex.split(declared["ENV"]))
    image_env = dict(e.split("=", 1) for e in config["config"]["Env"])
    assert image_env == env
    assert config["config"]["User"] == declared["USER"] == "65532"
    assert config["config"]["WorkingDir"] == declared["WORKDIR"]
    assert config["config"]["Entrypoint"] == json.loads(declared["ENTRYPOINT"])
    assert config["config"]["Cmd"] == json.loads(declared["CMD"])
    labels = dict(
        kv.split("=", 1) for kv in shlex.split(declared["LABEL"].replace("${VERSION}", "0.1.0"))
    )
    assert config["config"]["Labels"] == labels

    names = {e.name.rstrip("/"): e for e in entries}
    # Every COPY of the last stage lands where the Dockerfile puts it.
    for instruction, args in stage:
        if instruction != "COPY":
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        *sources, dest = parts
        if dest == "/":
            continue  # the root filesystem: checked below
        for source in sources:
            path = dest.strip("/")
            if dest.endswith("/") and not source.endswith("/"):
                path = f"{path}/{Path(source).name}"
            assert path in names, f"{instruction} {args}: {path} missing"
    site = next(a.split()[-1] for i, a in stage if i == "COPY" and "/site/" in a).strip("/")
    assert f"{site}/gitops_operator/cli/__init__.py" in names
    assert f"{site}/kopf/__init__.py" in names, "dependencies are installed"
    extra = [
        n
        for n in names
        if n.startswith(f"{site}/bin/") or (n.startswith(f"{site}/") and "__pycache__" in n)
    ]
    assert not extra, "no console scripts of the build's Python, no byte code"
    # The Debian tree of hack/image/rootfs.sh, and the non-root user that owns its places.
    for path in (
        "usr/bin/python3",
        "usr/bin/git",
        "usr/bin/ssh",
        "etc/ssl/certs/ca-certificates.crt",
    ):
        assert path in names, path
    for path in ("home/gitops", "var/cache/gitops-operator"):
        assert (names[path].uid, names[path].gid) == (65532, 65532), path
    assert all(e.uid == 0 for n, e in names.items() if n.startswith("usr/")), "root-owned code"
    assert not [
        n for n in names if n.startswith(("var/lib/apt/lists/", "var/log/")) and names[n].isfile()
    ]


def test_python_distributions_are_pinned_and_their_records_list_only_the_image(
    built: dict[str, Any],
):
    """Each dist-info's version is the one hack/image/constraints.txt pins, and its RECORD
    names only files the image has: a line for a console script dropped from the image
    carried a hash of a shebang naming the build's Python, so the digest depended on the
    checkout's path."""
    with tarfile.open(built["tar"]) as image:
        (manifest,) = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        python_layer = gzip.decompress(image.extractfile(manifest["Layers"][1]).read())  # type: ignore[union-attr]
    with tarfile.open(fileobj=io.BytesIO(python_layer)) as layer:
        files = {m.name: m for m in layer.getmembers()}
        site = next(n.rsplit("/", 1)[0] for n in files if n.endswith(".dist-info/RECORD"))
        site = site.rsplit("/", 1)[0]
        pins = {
            re.sub(r"[-_.]+", "-", line.split("==")[0]).lower(): line.split("==")[1]
            for line in (HACK / "image" / "constraints.txt").read_text().splitlines()
            if "==" in line
        }
        records = [n for n in files if n.endswith(".dist-info/RECORD")]
        assert len(records) > 20, "the project and its dependencies"
        for record in records:
            dist, version = record.split("/")[-2].removesuffix(".dist-info").rsplit("-", 1)
            if dist != "gitops_operator":
                assert pins[re.sub(r"[-_.]+", "-", dist).lower()] == version, dist
            listed = layer.extractfile(record).read().decode()  # type: ignore[union-attr]
            for line in listed.splitlines():
                assert f"{site}/{line.rsplit(',', 2)[0]}" in files, f"{record}: {line}"


def test_the_same_inputs_give_the_same_digest(built: dict[str, Any], tmp_path: Path):
    again = operatorimage.build(bin_dir(), rebuild=True, cache=tmp_path)
    assert again["ref"] == built["ref"], "same inputs, same cache key"
    assert again["digest"] == built["digest"]
    print(
        f"bench: operator image {again['compressed_bytes'] / 1e6:.1f} MB compressed"
        f" ({again['uncompressed_bytes'] / 1e6:.1f} MB uncompressed), built in {again['seconds']}s"
    )


def test_every_module_of_the_operator_imports_inside_the_image(
    built: dict[str, Any], tmp_path: Path
):
    """The image's own Python imports the whole operator (the controller, the CLI and
    what they load): a wheel's native extension finds every shared library it needs in
    the image (google-re2 needs libstdc++), which no file listing shows."""
    root = tmp_path / "rootfs"
    root.mkdir()
    with tarfile.open(built["tar"]) as image:
        (manifest,) = json.load(image.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(image.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        for layer in manifest["Layers"]:
            data = gzip.decompress(image.extractfile(layer).read())  # type: ignore[union-attr]
            subprocess.run(["tar", "-x", "-C", str(root)], input=data, check=True)
    (root / "dev").mkdir(exist_ok=True)  # git, run by GitPython at import, opens /dev/null
    os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    env = dict(e.split("=", 1) for e in config["config"]["Env"])
    every_module = (
        "import importlib, pkgutil, gitops_operator as g\n"
        "for m in pkgutil.walk_packages(g.__path__, 'gitops_operator.'):\n"
        "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
        "print('ok')"
    )
    done = subprocess.run(
        [shutil.which("chroot") or "/usr/sbin/chroot", str(root), "python3", "-c", every_module],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_image_holds_exactly_the_packages_modules(built: dict[str, Any]):
    """The operator's files in the image are those of src/ now: none of a module since
    moved or deleted (an in-tree wheel build kept them in build/lib)."""
    _, entries = read_image(Path(built["tar"]))
    prefix = f"usr/local/lib/python{operatorimage.PYTHON}/dist-packages/gitops_operator/"
    shipped = {
        e.name[len(prefix) :]
        for e in entries
        if e.name.startswith(prefix) and e.name.endswith(".py") and e.isfile()
    }
    source = HACK.parent / "src" / "gitops_operator"
    assert shipped == {p.relative_to(source).as_posix() for p in source.rglob("*.py")}
