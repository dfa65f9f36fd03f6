"""Run helm and kustomize in isolation: a private work directory, a bare environment,
their own process group, a deadline and an output cap.

Each render gets a fresh ``mkdtemp`` directory (random name, mode 0700; predictable paths
let one application render another's chart, CVE-2023-40026) that holds a copy of the
checkout and the tool's HOME, XDG and Helm directories, and is removed afterwards however
the tool ended. The tool sees only ``PATH`` and those directories: no credentials,
kubeconfig or plugins of the operator's own environment.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import RenderError
from .limits import MAX_RENDER_BYTES, RenderBudget

MAX_OUTPUT_BYTES = MAX_RENDER_BYTES
"""More rendered YAML than this is refused (and the tool killed) rather than parsed."""
STDERR_TAIL_CHARS = 2000
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
_READ_CHUNK = 64 * 1024


@contextmanager
def private_workdir() -> Iterator[Path]:
    """A fresh 0700 directory with a random name, removed on exit even after an error."""
    path = Path(tempfile.mkdtemp(prefix="gitops-render-"))
    try:
        yield path
    finally:
        _remove_tree(path)


def copy_checkout(root: Path, dest: Path) -> None:
    """Copy the checkout; symlinks stay symlinks when they resolve inside it. Links that
    leave it (or loop) are left out of the copy: ``check_tree`` refuses those a render can
    reach, and one elsewhere in a monorepo then cannot be read through an inside link."""
    real_root = root.resolve()

    def ignored(directory: str, names: list[str]) -> set[str]:
        dropped = {".git"}
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() and not _resolves_inside(path, real_root):
                dropped.add(name)
        return dropped

    shutil.copytree(root, dest, symlinks=True, ignore=ignored)


def _resolves_inside(path: Path, real_root: Path) -> bool:
    try:
        target = path.resolve()
    except (RuntimeError, OSError):  # a symlink loop
        return False
    return target == real_root or real_root in target.parents


def isolated_env(workdir: Path) -> dict[str, str]:
    """``PATH`` plus HOME and XDG directories inside ``workdir``; nothing inherited."""
    home = workdir / "home"
    dirs = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_CACHE_HOME": home / ".cache",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "TMPDIR": workdir / "tmp",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = {name: str(path) for name, path in dirs.items()}
    env["PATH"] = SAFE_PATH
    env["KUBECONFIG"] = str(workdir / "no-kubeconfig")
    return env


def run_tool(
    argv: list[str],
    *,
    cwd: Path,
    timeout: float,
    env: dict[str, str],
    stdout_in_errors: bool = False,
) -> str:
    """Run ``argv`` and return its stdout; a timeout, an oversized output or a non-zero
    exit is a ``RenderError`` naming the tool (with the tail of its stderr, after its
    stdout's when ``stdout_in_errors``: helm prints why a repository failed there)."""
    tool = Path(argv[0]).name
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise RenderError(
            f"cannot run {tool} ({argv[0]}): {exc.strerror}", reason="RenderToolNotFound"
        ) from exc
    try:
        out, err = _collect(proc, tool, timeout)
    finally:
        # The leader is not reaped yet, so its group id still names only its own group.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    if proc.returncode != 0:
        shown = (out + b"\n" + err) if stdout_in_errors else err
        message = shown.decode("utf-8", errors="replace").replace(str(cwd), "<checkout>")
        raise RenderError(f"{tool} failed (exit {proc.returncode}): {_tail(message)}")
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"{tool} printed output that is not UTF-8 ({exc.reason})") from exc
    RenderBudget().charge(text, f"{tool} output")
    return text


def _collect(proc: subprocess.Popen[bytes], tool: str, timeout: float) -> tuple[bytes, bytes]:
    """Read stdout and stderr until both close and the process exits, within ``timeout``."""
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(tool, timeout)
            for key, _ in sel.select(remaining):
                data = os.read(key.fd, _READ_CHUNK)
                if not data:
                    sel.unregister(key.fileobj)
                elif key.data is out:
                    out += data
                    if len(out) > MAX_OUTPUT_BYTES:
                        raise RenderError(
                            f"{tool} printed more than {MAX_OUTPUT_BYTES / 2**20:g} MiB",
                            reason="ManifestTooLarge",
                        )
                else:
                    err += data
                    del err[: -STDERR_TAIL_CHARS * 4]
    while not _has_exited(proc):
        if time.monotonic() >= deadline:
            raise _timed_out(tool, timeout)
        time.sleep(0.005)
    return bytes(out), bytes(err)


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """True once the tool has exited, without reaping it where the OS allows, so that its
    process group id cannot be reused before ``killpg``."""
    if hasattr(os, "waitid"):
        flags = os.WEXITED | os.WNOWAIT | os.WNOHANG
        return os.waitid(os.P_PID, proc.pid, flags) is not None
    return proc.poll() is not None  # macOS has no waitid


def _timed_out(tool: str, timeout: float) -> RenderError:
    return RenderError(
        f"{tool} did not finish within the render timeout of {timeout:g}s and was killed",
        reason="RenderTimeout",
    )


def _tail(text: str) -> str:
    text = text.strip()
    if len(text) <= STDERR_TAIL_CHARS:
        return text
    return "..." + text[-STDERR_TAIL_CHARS:]


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError:
        # A tool (or the copied checkout) may have left a directory without write access.
        with suppress(OSError):
            os.chmod(path, stat.S_IRWXU)
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:
                child = Path(dirpath) / name
                if not child.is_symlink():  # chmod would follow it out of the tree
                    with suppress(OSError):
                        os.chmod(child, stat.S_IRWXU)
        shutil.rmtree(path, ignore_errors=True)
