"""The sample workload image of the real node: Debian's static busybox serving HTTP.

``busybox httpd`` answers on :8080 with ``/index.html`` and ``/healthz``; ``sh`` is there
for ``kubectl exec`` and for commands that crash on purpose. One layer, reproducible,
cached by the content of the busybox binary.

    python hack/sampleimage.py     # build (or find) it; print the tar's path and the ref
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import ociimage

BUSYBOX = Path("/bin/busybox")
REPOSITORY = "localhost/gitops-operator/sample"


def ref() -> str:
    return f"{REPOSITORY}:{hashlib.sha256(BUSYBOX.read_bytes()).hexdigest()[:12]}"


def build(cache: Path) -> tuple[Path, str]:
    """The image tar (built once per busybox binary) and its reference."""
    image = ref()
    out = cache / "images" / f"sample-{image.rsplit(':', 1)[1]}.tar"
    if out.exists():
        return out, image
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "bin").mkdir()
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for tool in ("sh", "httpd", "sleep", "cat", "wget", "ls"):
            (root / "bin" / tool).symlink_to("busybox")
        (root / "www").mkdir()
        (root / "www" / "index.html").write_text("hello from the sample workload\n")
        (root / "www" / "healthz").write_text("ok\n")
        (root / "tmp").mkdir()
        (root / "tmp").chmod(0o1777)
        for path in [root, *root.rglob("*")]:
            os.lchown(path, 0, 0)
        ociimage.write_image(
            [ociimage.layer_tar(root)],
            out,
            image,
            entrypoint=["/bin/busybox"],
            cmd=["httpd", "-f", "-v", "-p", "8080", "-h", "/www"],
            env=["PATH=/bin"],
            user="65532",
        )
    return out, image


if __name__ == "__main__":
    import localcluster

    path, image = build(localcluster.cache_dir())
    print(path, image)
