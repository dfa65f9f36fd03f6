"""Pull-request plans (GitRepository spec.pullRequests): from a signed pull-request
webhook to the plan's commit status on the Git host, end to end.

    .venv/bin/python bench/pr_plan.py                    # 300 ConfigMaps, 5 pull requests
    .venv/bin/python bench/pr_plan.py --objects 1500 --runs 3

A fresh control plane, the operator as a process, a real Git server and a recorder of the
GitHub API (hack/githostrecorder.py). One Application of N ConfigMaps is synced; then each
run pushes a pull request changing a tenth of them to refs/pull/<n>/head, posts the signed
``pull_request`` webhook, and waits until the recorder holds the final commit status of
that head. The plan renders the head, dry-runs all N objects and posts the comment.
Prints every run, then the median.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hack"))  # run as a script

import yaml

from githostrecorder import GitHostRecorder
from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.objects import ObjectRef
from gitserver import GitHTTPServer, git
from localcluster import LocalCluster, install_crds
from manifests import make_repository
from operatorprocess import OperatorProcess

SECRET = "bench-webhook-secret"
NAMESPACE = "bench"


def configmaps(n: int, changed: int = -1) -> dict[str, str]:
    """``n`` ConfigMaps; every tenth one's value says ``changed`` when it is >= 0."""
    files = {}
    for i in range(n):
        value = f"v{changed}" if changed >= 0 and i % 10 == 0 else "v0"
        meta = {"name": f"cm-{i}"}
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"v": value}}
        files[f"app/cm-{i}.yaml"] = yaml.safe_dump(doc)
    return files


def secret(namespace: str, name: str, **data: str) -> dict[str, Any]:
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": encoded}


def webhook(port: int, url: str, number: int, sha: str) -> int:
    body = json.dumps(
        {
            "action": "synchronize",
            "number": number,
            "pull_request": {"number": number, "head": {"sha": sha}},
            "repository": {"clone_url": url},
        }
    ).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "pull_request",
        "X-GitHub-Delivery": f"bench-{number}-{sha[:8]}",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/github", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


def final_status(rec: GitHostRecorder, sha: str) -> dict[str, Any] | None:
    found = [s for s in rec.statuses if s["sha"] == sha and s["state"] != "pending"]
    return found[-1] if found else None


def wait(probe: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := probe():
            return result
        time.sleep(0.02)
    raise TimeoutError(f"{what} within {timeout:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pr-plan-"))
    sha = make_repository(work / "git", configmaps(args.objects))
    clone = work / "clone"
    rec = GitHostRecorder("github").start()
    with LocalCluster() as cluster, GitHTTPServer(work / "git") as server:
        kube = install_crds(cluster.client("bench"))
        env = {
            "GITOPS_WEBHOOK_SECRET": "default/receivers",
            "GITOPS_DEFAULT_SERVICE_ACCOUNT": "",
            "GITOPS_NO_CROSS_NAMESPACE_REFS": "false",
        }
        with OperatorProcess(cluster.kubeconfig, work / "operator", env) as operator:
            operator.wait_live()
            kube.apply(secret("default", "receivers", github=SECRET))
            kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
            kube.apply(secret(NAMESPACE, "gh", token=rec.token))
            provider_spec = {"type": "github", "address": f"{rec.url}/org/app"}
            provider_spec["secretRef"] = {"name": "gh"}  # type: ignore[assignment]
            meta = {"name": "github", "namespace": NAMESPACE}
            kube.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": "Provider",
                    "metadata": meta,
                    "spec": provider_spec,
                }
            )
            url = server.url("bench.git")
            repo_spec = {
                "url": url,
                "ref": {"branch": "main"},
                "interval": "1h",
                "pullRequests": {"providerRef": {"name": "github"}},
            }
            meta = {"name": "bench", "namespace": NAMESPACE}
            kube.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": "GitRepository",
                    "metadata": meta,
                    "spec": repo_spec,
                }
            )
            app_spec = {"sourceRef": {"name": "bench"}, "path": "app", "interval": "1h"}
            kube.apply(
                {
                    "apiVersion": API_VERSION,
                    "kind": "Application",
                    "metadata": meta,
                    "spec": app_spec,
                }
            )
            app_ref = ObjectRef(GROUP, "Application", NAMESPACE, "bench")

            def synced() -> bool:
                status = (kube.get(API_VERSION, app_ref) or {}).get("status") or {}
                return str(status.get("lastAppliedRevision", "")).endswith(sha)

            wait(synced, args.timeout, f"{args.objects} ConfigMaps synced")
            time.sleep(2)  # the receiver's index and the first health pass settle
            seconds = []
            for run in range(1, args.runs + 1):
                git(clone, "checkout", "-q", sha)
                for rel, text in configmaps(args.objects, changed=run).items():
                    (clone / rel).write_text(text)
                git(clone, "commit", "-qam", f"pull request {run}")
                git(
                    clone,
                    "push",
                    "-q",
                    "-f",
                    str(work / "git" / "bench.git"),
                    f"HEAD:refs/pull/{run}/head",
                )
                head = git(clone, "rev-parse", "HEAD")
                started = time.monotonic()
                assert webhook(operator.webhook_port, url, run, head) == 202
                status = wait(
                    lambda h=head: final_status(rec, h), args.timeout, "the plan's status"
                )
                took = time.monotonic() - started
                seconds.append(took)
                print(
                    f"  run {run}: {took:.2f} s ({status['state']}: {status['description']})",
                    flush=True,
                )
    rec.stop()
    print("| measure | median (min-max) |\n| --- | --- |")
    spread = f"{min(seconds):.2f}-{max(seconds):.2f}"
    print(
        f"| {args.objects} ConfigMaps, a tenth changed: pull-request webhook -> commit status"
        f" | {statistics.median(seconds):.2f} s ({spread}) |"
    )


if __name__ == "__main__":
    main()
