"""One git command with the operator's settings: configuration through the environment
only (never argv, never a file), the remote's checked addresses pinned, transfers that
stall abandoned, and its failure turned into a message a user can act on."""

from __future__ import annotations

import ipaddress
import logging
import shutil

import git

from ..errors import SourceError, redact
from .auth import Credentials, git_environment
from .hosts import Target

log = logging.getLogger(__name__)

LOW_SPEED_LIMIT = 1024
LOW_SPEED_TIME = 30
SSH_KEEPALIVE = "-o ServerAliveInterval=15 -o ServerAliveCountMax=2"
_PRLIMIT = shutil.which("prlimit", path="/usr/local/bin:/usr/bin:/bin")


def run_git(
    repo: git.Repo | None,
    command: str,
    *args: str,
    timeout: float,
    url: str,
    target: Target | None,
    credentials: Credentials | None,
    allow_local: bool = False,
    max_file_bytes: int = 0,
) -> str:
    """Run ``git <command> <args>``; with ``max_file_bytes``, no file git writes may grow
    past it (``prlimit --fsize``: the kernel stops the write, so a pack too large is
    abandoned while it downloads, not measured after)."""
    runner = repo.git if repo is not None else git.cmd.Git()
    protocols = "http:https:ssh" + (":file" if allow_local else "")
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_ALLOW_PROTOCOL": protocols,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_SSH_COMMAND": "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes"
        f" {SSH_KEEPALIVE}",
    }
    # A redirect would lead to a host nobody checked; the checked addresses are the
    # only ones curl may use for the name (no second lookup, so no DNS rebinding).
    config = [
        ("http.followRedirects", "false"),
        # A server trickling bytes is as stuck as a silent one: below 1 KiB/s for 30 s
        # the transfer is abandoned, long before the command's own timeout.
        ("http.lowSpeedLimit", str(LOW_SPEED_LIMIT)),
        ("http.lowSpeedTime", str(LOW_SPEED_TIME)),
        # Always keep the download as one pack file (never loose objects), so the
        # file size limit bounds the whole transfer.
        ("fetch.unpackLimit", "1"),
    ]
    if target is not None and _is_name(target.host):
        pinned = ",".join(f"[{a}]" if ":" in a else a for a in target.addresses)
        config.append(("http.curloptResolve", f"{target.host}:{target.port}:{pinned}"))
    loopback = target is not None and all(
        ipaddress.ip_address(a.split("%", 1)[0]).is_loopback for a in target.addresses
    )
    name = f"git {command.replace('_', '-')}"
    argv = [runner.GIT_PYTHON_GIT_EXECUTABLE or "git", command.replace("_", "-"), *args]
    if max_file_bytes and _PRLIMIT:
        argv = [_PRLIMIT, f"--fsize={max_file_bytes}", "--", *argv]
    secrets = credentials.values if credentials else []
    try:
        with git_environment(url, credentials, loopback=loopback) as auth:
            output = runner.execute(
                argv,
                env={**env, **auth.env, **_config_env(config + auth.config)},
                kill_after_timeout=timeout,
            )
    except git.GitCommandError as exc:
        detail = _scrub(_stderr_summary(exc), secrets)
        if any(sign in detail for sign in _AUTH_FAILURES):
            raise SourceError(
                f"{name} failed: authentication refused by {redact(url)}"
                f" ({'check spec.secretRef' if credentials else 'set spec.secretRef'}):"
                f" {detail}",
                reason="AuthenticationFailed",
            ) from None
        if any(sign in detail for sign in _GIT_SERVER_ANSWERS):
            raise SourceError(f"{name} failed: {detail}") from None
        # Refused, reset, timed out, TLS, HTTP 404, not git: one text for all, so a
        # status cannot tell an open port from a closed one. Administrators get the
        # detail in the operator's log.
        log.info("%s %s failed: %s", name, redact(url), detail)
        raise SourceError(
            f"{name} failed: {redact(url)} is unreachable (Failed to connect, timed out,"
            " or not a Git repository)"
        ) from None
    except (git.GitCommandNotFound, OSError) as exc:
        raise SourceError(f"{name} could not run: {_scrub(str(exc), secrets)}") from None
    return str(output)


def _is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True
    return False


def _config_env(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Git config for one command through ``GIT_CONFIG_*`` (never argv, never a file)."""
    env = {"GIT_CONFIG_COUNT": str(len(pairs))}
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


_GIT_SERVER_ANSWERS = (
    "remote ref",
    "not our ref",
    "remote error:",
    "Host key verification failed",
    "[rejected]",  # a push refused as not a fast-forward
    "[remote rejected]",
)
_AUTH_FAILURES = (
    "could not read Username",
    "Authentication failed",
    "Permission denied (publickey",
    "The requested URL returned error: 401",
    "The requested URL returned error: 403",
)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _stderr_summary(exc: git.GitCommandError) -> str:
    stderr = redact(str(exc.stderr or "")).strip()
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and ln.strip() != "'"]
    if exc.status == -9 or "timed out" in stderr.lower():
        return "timed out"
    text = " ".join(lines).removeprefix("stderr: ").strip("' ")
    return redact(text) or f"exit status {exc.status}"
