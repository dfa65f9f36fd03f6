"""Who makes which API request: kube-apiserver's audit log (``--diagnose``), counted by
client, verb and resource.

The API server's own metrics (``apiserver_request_total``) have no client label, so the
requests of our operator, of kube-controller-manager and of kwok cannot be told apart
there. With ``--diagnose`` the benchmark's control plane writes an audit log at the
Metadata level (one JSON line per request, no bodies), and ``count`` reads the lines
written since an offset.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted]
rules:
- level: Metadata
"""


def kwok_patch(work: Path, rules: str = POLICY) -> tuple[str, Path]:
    """The kube-apiserver ``extraArgs`` items that turn the audit log on with the policy
    ``rules`` (YAML, to append to the kube-apiserver entry of a KwokctlConfiguration's
    ``componentsPatches``), and the log's path."""
    policy, log = work / "audit-policy.yaml", work / "audit.log"
    policy.write_text(rules)
    patch = (
        f"  - key: audit-policy-file\n    value: {policy}\n"
        f"  - key: audit-log-path\n    value: {log}\n"
        "  - key: audit-log-maxsize\n    value: '0'\n"
    )
    return patch, log


def offset(log: Path) -> int:
    try:
        return log.stat().st_size
    except OSError:
        return 0


def client_of(event: dict[str, Any]) -> str:
    """A short name of the client: the user agent's program (kube-controller-manager's
    with the controller after it), else the user name."""
    agent = str(event.get("userAgent") or "")
    program = agent.split("/", 1)[0].split(" ", 1)[0]
    if program == "kube-controller-manager":
        return f"{program}:{agent.rsplit('/', 1)[-1].rsplit(':', 1)[-1]}"
    if program:
        return program
    return str((event.get("user") or {}).get("username", "?"))


def count(log: Path, since: int) -> Counter[str]:
    """Requests logged since byte ``since`` (watches left out), by
    ``client verb resource[/subresource][ (dry-run)]``."""
    counts: Counter[str] = Counter()
    try:
        with log.open("rb") as f:
            f.seek(since)
            lines = f.read().splitlines()
    except OSError:
        return counts
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line still being written
        verb = str(event.get("verb", ""))
        if verb == "watch":
            continue
        ref = event.get("objectRef") or {}
        resource = str(ref.get("resource") or event.get("requestURI", "?").split("?")[0])
        if ref.get("subresource"):
            resource += f"/{ref['subresource']}"
        dry = " (dry-run)" if "dryRun=" in str(event.get("requestURI", "")) else ""
        counts[f"{client_of(event)} {verb} {resource}{dry}"] += 1
    return counts


def by_client(counts: Counter[str]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for key, value in counts.items():
        totals[key.split(" ", 1)[0]] += value
    return totals
