"""What the scale benchmarks' Git repository holds: Flux's MTTP podinfo apps, and one
app of many ConfigMaps."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from gitserver import git


def podinfo(index: int) -> str:
    """One app of Flux's MTTP benchmark (its podinfo manifests, INDEX substituted)."""
    name = f"podinfo-{index}"
    labels = (
        f"    app.kubernetes.io/name: {name}\n"
        '    app.kubernetes.io/version: "6.5.3"\n'
        "    app.kubernetes.io/managed-by: bench\n"
    )
    return f"""\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {name}
  labels:
{labels}---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  labels:
{labels}spec:
  type: ClusterIP
  ports:
    - {{port: 9898, targetPort: http, protocol: TCP, name: http}}
    - {{port: 9999, targetPort: grpc, protocol: TCP, name: grpc}}
  selector:
    app.kubernetes.io/name: {name}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
{labels}spec:
  replicas: 0
  strategy:
    type: RollingUpdate
    rollingUpdate: {{maxUnavailable: 1}}
  selector:
    matchLabels:
      app.kubernetes.io/name: {name}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {name}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9898"
    spec:
      terminationGracePeriodSeconds: 30
      serviceAccountName: {name}
      containers:
        - name: podinfo
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          imagePullPolicy: IfNotPresent
          command: [./podinfo, --port=9898, --cert-path=/data/cert, --port-metrics=9797,
                    --grpc-port=9999, --grpc-service-name=podinfo, --level=info,
                    --random-delay=false, --random-error=false]
          env:
            - {{name: PODINFO_UI_COLOR, value: "#34577c"}}
          ports:
            - {{name: http, containerPort: 9898, protocol: TCP}}
            - {{name: http-metrics, containerPort: 9797, protocol: TCP}}
            - {{name: grpc, containerPort: 9999, protocol: TCP}}
          livenessProbe:
            exec: {{command: [podcli, check, http, "localhost:9898/healthz"]}}
            initialDelaySeconds: 1
            timeoutSeconds: 5
            failureThreshold: 3
            successThreshold: 1
            periodSeconds: 10
          readinessProbe:
            exec: {{command: [podcli, check, http, "localhost:9898/readyz"]}}
            initialDelaySeconds: 1
            timeoutSeconds: 5
            failureThreshold: 3
            successThreshold: 1
            periodSeconds: 10
          volumeMounts:
            - {{name: data, mountPath: /data}}
          resources:
            requests: {{cpu: 1m, memory: 16Mi}}
      volumes:
        - {{name: data, emptyDir: {{}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {name}
  labels:
{labels}spec:
  ingressClassName: nginx
  rules:
    - host: {name}.local
      http:
        paths:
          - path: /
            pathType: ImplementationSpecific
            backend:
              service:
                name: {name}
                port: {{number: 9898}}
"""


def mttp_files(n: int) -> dict[str, str]:
    return {f"apps/app-{i}/podinfo.yaml": podinfo(i) for i in range(n)}


def configmap(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{index:04d}", "labels": {"bench": "sync"}},
        "data": {"index": str(index), "color": "#34577c", "payload": "x" * 64},
    }


def big_files(objects: int) -> dict[str, str]:
    return {f"big/cm-{i:04d}.yaml": json.dumps(configmap(i)) + "\n" for i in range(objects)}


def make_repository(root: Path, files: dict[str, str]) -> str:
    """A bare repository root/bench.git whose main holds ``files``; returns the SHA."""
    clone = root.parent / "clone"
    clone.mkdir(parents=True)
    git(clone, "init", "-q", "-b", "main")
    for rel, text in files.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(text)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", f"{len(files)} files")
    subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(root / "bench.git")], check=True
    )
    git(clone, "push", "-q", str(root / "bench.git"), "HEAD:main")
    return git(clone, "rev-parse", "HEAD")


def commit_files(root: Path, files: dict[str, str], message: str) -> str:
    """Commit ``files`` (changed or new) on main of make_repository's root/bench.git,
    from its clone next to it; returns the new SHA."""
    clone = root.parent / "clone"
    for rel, text in files.items():
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        (clone / rel).write_text(text)
    git(clone, "add", "-A")
    git(clone, "commit", "-q", "-m", message)
    git(clone, "push", "-q", str(root / "bench.git"), "HEAD:main")
    return git(clone, "rev-parse", "HEAD")
