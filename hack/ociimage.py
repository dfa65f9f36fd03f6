"""Write OCI images without a container engine: deterministic layers and an image tar.

A layer is a tar of a directory tree with sorted entries, one fixed mtime
(``SOURCE_DATE_EPOCH``), numeric owners and no user or group names, gzip-compressed with a
zero header time: the same tree always gives the same bytes, hence the same digest. The
image tar is an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256``) that
also carries a Docker ``manifest.json``, so ``ctr images import`` reads it either way.

    python hack/ociimage.py ROOTFS_DIR OUT.tar --ref localhost/x:1 --entrypoint /bin/x
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True, slots=True)
class Image:
    """What was written: the manifest's digest (the image's identity) and sizes."""

    ref: str
    digest: str
    compressed_bytes: int
    uncompressed_bytes: int


def _walk(root: Path) -> Iterator[Path]:
    """Every path under ``root`` (not ``root`` itself), sorted, directories first."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted([*dirnames, *filenames]):
            yield base / name


def layer_tar(root: Path, owner: dict[str, tuple[int, int]] | None = None) -> bytes:
    """An uncompressed, reproducible tar of the tree under ``root``.

    ``owner`` maps a path inside the layer (``"home/nonroot"``) to the uid and gid its
    entry and everything beneath it get; everything else keeps its own numeric owner.
    """
    owner = owner or {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        hardlinks: dict[tuple[int, int], str] = {}
        for path in _walk(root):
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            info = tarfile.TarInfo(rel)
            info.mtime = EPOCH
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = st.st_uid, st.st_gid
            for prefix, ids in owner.items():
                if rel == prefix or rel.startswith(prefix + "/"):
                    info.uid, info.gid = ids
            info.uname = info.gname = ""
            if stat.S_ISLNK(st.st_mode):
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                tar.addfile(info)
            elif stat.S_ISDIR(st.st_mode):
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in hardlinks:
                    info.type = tarfile.LNKTYPE
                    info.linkname = hardlinks[key]
                    tar.addfile(info)
                    continue
                hardlinks[key] = rel
                info.size = st.st_size
                with path.open("rb") as data:
                    tar.addfile(info, data)
            # sockets, fifos and device nodes have no place in an image layer
    return buf.getvalue()


def tar_listing(layer: bytes) -> list[tuple[str, str, int, int, int]]:
    """(path, type, mode, uid, gid) of every entry: what two builds must agree on."""
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        return sorted(
            (m.name.rstrip("/"), m.type.decode(), m.mode, m.uid, m.gid) for m in tar.getmembers()
        )


def _blob(out: tarfile.TarFile, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
    out.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}"


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def write_image(
    layers: list[bytes],
    out: Path,
    ref: str,
    *,
    entrypoint: list[str],
    cmd: list[str] | None = None,
    env: list[str] | None = None,
    user: str = "",
    workdir: str = "/",
    labels: dict[str, str] | None = None,
) -> Image:
    """Write an image of ``layers`` (uncompressed tars, bottom first) to ``out``."""
    compressed = [gzip.compress(layer, compresslevel=6, mtime=0) for layer in layers]
    diff_ids = [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": entrypoint,
            "Cmd": cmd or [],
            "Env": env or ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "User": user,
            "WorkingDir": workdir,
            "Labels": labels or {},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "1970-01-01T00:00:00Z"} for _ in layers],
    }
    config_bytes = _json(config)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        config_digest = _blob(tar, config_bytes)
        layer_digests = [_blob(tar, c) for c in compressed]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": d, "size": len(c)}
                for d, c in zip(layer_digests, compressed, strict=True)
            ],
        }
        manifest_bytes = _json(manifest)
        manifest_digest = _blob(tar, manifest_bytes)
        tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": manifest_digest,
                    "size": len(manifest_bytes),
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": tag,
                    },
                }
            ],
        }
        docker = [
            {
                "Config": f"blobs/sha256/{config_digest[7:]}",
                "RepoTags": [ref],
                "Layers": [f"blobs/sha256/{d[7:]}" for d in layer_digests],
            }
        ]
        for name, data in (
            ("oci-layout", _json({"imageLayoutVersion": "1.0.0"})),
            ("index.json", _json(index)),
            ("manifest.json", _json(docker)),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(out)
    return Image(
        ref=ref,
        digest=manifest_digest,
        compressed_bytes=sum(len(c) for c in compressed),
        uncompressed_bytes=sum(len(layer) for layer in layers),
    )


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Write a one-layer OCI image of a directory.")
    parser.add_argument("rootfs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--ref", required=True)
    parser.add_argument("--entrypoint", required=True, nargs="+")
    parser.add_argument("--user", default="")
    args = parser.parse_args()
    image = write_image(
        [layer_tar(args.rootfs)], args.out, args.ref, entrypoint=args.entrypoint, user=args.user
    )
    print(f"{image.ref} {image.digest} {image.compressed_bytes} bytes compressed")


if __name__ == "__main__":
    main()
