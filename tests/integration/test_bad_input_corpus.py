"""Bad-input corpus: every case gets a clear reason in status and a Warning Event, with no
crash and nothing of the bad revision applied (a canary object rides along in each)."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

from gitops_operator.api import API_VERSION
from gitserver import GitHTTPServer

from .apps import application, configmap, crd, deployment, repository
from .support import GitRepo, condition, events_for, get_status, wait_for
from .test_reconcile import get, synced_to

CANARY = {"app/canary.yaml": configmap("canary")}
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def doc(kind: str, name: str, api: str = "v1", **extra: Any) -> str:
    return yaml.safe_dump({"apiVersion": api, "kind": kind, "metadata": {"name": name}, **extra})


def annotated(name: str, annotations: dict[str, str]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "annotations": annotations},
        }
    )


@dataclass
class Case:
    name: str
    files: dict[str, str | bytes | None]
    reason: str
    app: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    first: dict[str, str | None] | None = None  # a good revision applied before the bad one
    on: str = "Application"  # which resource reports the reason
    message: str | tuple[str, ...] = field(kw_only=True)
    """What the condition message must say (each part): where the problem is and what to do."""

    @property
    def fragments(self) -> tuple[str, ...]:
        parts = (self.message,) if isinstance(self.message, str) else self.message
        assert parts and all(parts), f"{self.name}: give the message it must show"
        return parts


CASES = [
    Case(
        "malformed-yaml",
        {"app/bad.yaml": "a: [1, 2\n"},
        "RenderFailed",
        message="app/bad.yaml: invalid YAML: while parsing a flow sequence",
    ),
    Case(
        "non-utf8",
        {"app/bad.yaml": b"\xff\xfe\x00bad"},
        "RenderFailed",
        message="app/bad.yaml: not UTF-8 text",
    ),
    Case(
        "not-a-mapping",
        {"app/bad.yaml": "- a\n- b\n"},
        "RenderFailed",
        message="app/bad.yaml (document 1): expected a Kubernetes object, got list",
    ),
    Case(
        "no-kind",
        {"app/bad.yaml": "apiVersion: v1\nmetadata: {name: x}\n"},
        "RenderFailed",
        message="app/bad.yaml (document 1): not a Kubernetes object (apiVersion and kind required)",
    ),
    Case(
        "no-name",
        {"app/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"},
        "RenderFailed",
        message="app/bad.yaml (document 1): ConfigMap has no metadata.name",
    ),
    Case(
        "argo-hook-generate-name",
        {
            "app/migrate.yaml": yaml.safe_dump(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "generateName": "db-migrate-",
                        "annotations": {"argocd.argoproj.io/hook": "PreSync"},
                    },
                }
            )
        },
        "GenerateNameNotSupported",
        message=(
            "app/migrate.yaml (document 1): Job with generateName 'db-migrate-'",
            "give each a metadata.name",
        ),
    ),
    Case(
        "unknown-kind",
        {"app/bad.yaml": doc("Gadget", "g", "example.com/v1")},
        "KindNotFound",
        message=(
            'nothing applied; Gadget/g (app/bad.yaml): no API resource serves kind "Gadget"',
            "(is its CustomResourceDefinition installed?)",
        ),
    ),
    Case(
        "missing-crd",
        {"app/bad.yaml": doc("Certificate", "c", "cert-manager.io/v1")},
        "KindNotFound",
        message=(
            "nothing applied; Certificate/c (app/bad.yaml):",
            'no API resource serves kind "Certificate" in version "cert-manager.io/v1"',
            "(is its CustomResourceDefinition installed?)",
        ),
    ),
    Case(
        "schema-violation",
        {"app/bad.yaml": deployment("web").replace("replicas: 1", "replicas: lots")},
        "DryRunFailed",
        message=(
            "nothing applied; Deployment/",
            "(app/bad.yaml) dry-run failed (Invalid)",
            ".spec.replicas: expected numeric (int or float), got string",
        ),
    ),
    Case(
        "invalid-name",
        {"app/bad.yaml": configmap("Not_Valid")},
        "DryRunFailed",
        message=(
            "nothing applied; ConfigMap/",
            'metadata.name: Invalid value: "Not_Valid": a lowercase RFC 1123 subdomain',
        ),
    ),
    Case(
        "missing-namespace",
        {
            "app/bad.yaml": configmap("x").replace(
                "metadata:\n", "metadata:\n  namespace: does-not-exist\n"
            )
        },
        "NamespaceNotFound",
        message=(
            "nothing applied; ConfigMap/does-not-exist/x (app/bad.yaml) dry-run failed (NotFound)",
            'namespaces "does-not-exist" not found',
            "tried again every 30s",
        ),
    ),
    Case(
        "secret-with-int",
        {"app/bad.yaml": doc("Secret", "s", stringData={"k": 12345678})},
        "DryRunFailed",
        message=(
            "nothing applied; Secret/",
            "(app/bad.yaml) dry-run failed (Invalid)",
            ".stringData.k: expected string",
        ),
    ),
    Case(
        "immutable-field",
        {"app/web.yaml": deployment("web", app="other")},
        "DryRunFailed",
        first={"app/web.yaml": deployment("web")},
        message=(
            "nothing applied; Deployment/",
            "(app/web.yaml) dry-run failed (Invalid)",
            "spec.selector: Invalid value",
            "field is immutable",
        ),
    ),
    Case(
        "crd-and-invalid-cr",
        {
            "app/crd.yaml": yaml.safe_dump(crd("corpus.example.com", "Gizmo", "gizmos")),
            "app/gizmo.yaml": doc("Gizmo", "g", "corpus.example.com/v1", spec={"size": "big"}),
        },
        "DryRunFailed",
        message=(
            "only CRDs and Namespaces were applied; Gizmo/",
            "(app/gizmo.yaml) dry-run failed (Invalid)",
            ".spec.size: expected numeric (int or float), got string",
        ),
    ),
    Case(
        "duplicate-objects",
        {"app/a.yaml": configmap("dup"), "app/b.yaml": configmap("dup")},
        "DuplicateObject",
        message="ConfigMap/dup is defined more than once (app/a.yaml, app/b.yaml)",
    ),
    Case(
        "huge-file",
        {"app/bad.yaml": "# " + "x" * (5 * 1024 * 1024) + "\n"},
        "ManifestTooLarge",
        message="app/bad.yaml: larger than 4194304 bytes",
    ),
    Case(
        "deep-nesting",
        {"app/bad.yaml": "a: " + "[" * 5000 + "]" * 5000 + "\n"},
        "RenderFailed",
        message=("app/bad.yaml: invalid YAML", "exceeded maximum nesting depth"),
    ),
    Case(
        "alias-bomb",
        {"app/bad.yaml": doc("ConfigMap", "bomb").replace("metadata", BOMB + "metadata")},
        "ManifestTooLarge",
        message="YAML aliases expand the rendered objects by more than 1000000 nodes",
    ),
    Case(
        "symlink-escape",
        {"app/leak.yaml": "symlink:/etc/passwd"},
        "PathOutsideRepository",
        message="symlink 'app/leak.yaml' points outside the repository",
    ),
    Case(
        "path-outside",
        {},
        "PathOutsideRepository",
        app={"path": "../../etc"},
        message="spec.path '../../etc' must be a relative path inside the repository",
    ),
    Case(
        "path-missing",
        {},
        "PathNotFound",
        app={"path": "nowhere"},
        message="spec.path 'nowhere' is not a directory in the repository",
    ),
    Case(
        "empty-render",
        {"app/a.yaml": None, "app/canary.yaml": None, "app/x.txt": "x"},
        "EmptyRender",
        first={"app/a.yaml": configmap("a")},
        message=(
            "renders no objects; refusing to prune the 1 objects of the inventory",
            "(set spec.allowEmpty to allow it)",
        ),
    ),
    Case(
        "too-many-deletions",
        {"app/a.yaml": None, "app/b.yaml": None},
        "TooManyDeletions",
        first={"app/a.yaml": configmap("a"), "app/b.yaml": configmap("b")},
        app={"maxDeletions": 1},
        message="would delete 2 objects, more than spec.maxDeletions=1",
    ),
    Case(
        "helm-template-error",
        {
            "app/Chart.yaml": "apiVersion: v2\nname: c\nversion: 0.1.0\n",
            "app/templates/x.yaml": '{{ fail "boom" }}\n',
        },
        "RenderFailed",
        message="helm failed (exit 1): Error: execution error at (c/templates/x.yaml:1:3): boom",
    ),
    Case(
        "helm-value-file-outside",
        {
            "app/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
            "app/templates/cm.yaml": configmap("c"),
        },
        "PathOutsideRepository",
        app={"render": {"helm": {"valueFiles": ["/etc/passwd"]}}},
        message=(
            "spec.render.helm.valueFiles entry '/etc/passwd'",
            "must be a relative path inside the repository",
        ),
    ),
    Case(
        "helm-missing-dependency",
        {
            "app/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n"
            "dependencies:\n- {name: redis, version: 1.0.0,"
            " repository: https://charts.example.com}\n"
        },
        "ChartRepositoryNotAllowed",
        message=(
            "chart app depends on redis",
            "that host is not on the operator's allow-list of chart repositories",
        ),
    ),
    Case(
        "kustomize-missing-resource",
        {"app/kustomization.yaml": "resources: [missing.yaml]\n"},
        "PathNotFound",
        message=(
            "app/kustomization.yaml: resources entry 'missing.yaml'",
            "does not exist in the repository",
        ),
    ),
    Case(
        "kustomize-remote-base",
        {"app/kustomization.yaml": "resources: [https://github.com/org/repo//base]\n"},
        "RemoteBaseRefused",
        message=(
            "app/kustomization.yaml: resources entry 'https://github.com/org/repo//base'",
            "is a remote base; only paths inside the repository are allowed",
        ),
    ),
    Case(
        "kustomize-exec-plugin",
        {
            "app/kustomization.yaml": "generators: [gen.yaml]\n",
            "app/gen.yaml": yaml.safe_dump(
                {
                    "apiVersion": "x/v1",
                    "kind": "Gen",
                    "metadata": {
                        "name": "g",
                        "annotations": {"config.kubernetes.io/function": "exec: {path: /bin/sh}"},
                    },
                }
            ),
        },
        "PluginRefused",
        message="app/gen.yaml: KRM functions (config.kubernetes.io/function) are not allowed",
    ),
    Case(
        "wrong-credentials",
        {},
        "AuthenticationFailed",
        on="GitRepository",
        source={"secretRef": {"name": "creds"}, "private": True},
        message=(
            "git ls-remote failed: authentication refused by http://127.0.0.1:",
            "(check spec.secretRef)",
        ),
    ),
    Case(
        "missing-secret",
        {},
        "SecretNotFound",
        on="GitRepository",
        source={"secretRef": {"name": "absent"}},
        message="/absent (spec.secretRef) not found",
    ),
    Case(
        "unreachable-host",
        {},
        "GitOperationFailed",
        on="GitRepository",
        source={"url": "http://127.0.0.1:9/none.git"},
        message="git ls-remote failed: http://127.0.0.1:9/none.git is unreachable",
    ),
    Case(
        "branch-not-found",
        {},
        "RefNotFound",
        on="GitRepository",
        source={"ref": {"branch": "nope"}},
        message="branch 'nope' not found in http://127.0.0.1:",
    ),
    Case(
        "invalid-semver",
        {},
        "InvalidSemver",
        on="GitRepository",
        source={"ref": {"semver": ">=banana"}},
        message="spec.ref.semver: invalid range '>=banana'",
    ),
    Case(
        "sync-wave-not-an-integer",
        {
            "app/first.yaml": annotated("first", {"gitops-operator.dev/sync-wave": "-1"}),
            "app/late.yaml": annotated("late", {"argocd.argoproj.io/sync-wave": "later"}),
        },
        "InvalidSyncWave",
        message=(
            "nothing applied; a sync wave must be an integer:",
            "ConfigMap/",
            "/late (app/late.yaml): argocd.argoproj.io/sync-wave='later'",
        ),
    ),
    Case(
        "argo-sync-option-replace",
        {"app/cm.yaml": annotated("cm", {"argocd.argoproj.io/sync-options": "Replace=true"})},
        "UnsupportedSyncOption",
        message=(
            "nothing applied; ConfigMap/",
            "argocd.argoproj.io/sync-options 'Replace=true': objects are patched by"
            " server-side apply, never replaced",
        ),
    ),
    Case(
        "argo-sync-option-unknown",
        {
            "app/cm.yaml": annotated(
                "cm", {"argocd.argoproj.io/sync-options": "ServerSideApply=true,Frobnicate=yes"}
            )
        },
        "UnsupportedSyncOption",
        message="argocd.argoproj.io/sync-options 'Frobnicate=yes': unknown sync option",
    ),
    Case(
        "post-delete-hook",
        {
            "app/migrate.yaml": yaml.safe_dump(
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {
                        "name": "migrate",
                        "annotations": {"argocd.argoproj.io/hook": "PostDelete"},
                    },
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [{"name": "m", "image": "busybox"}],
                            }
                        }
                    },
                }
            )
        },
        "HooksNotSupported",
        message=(
            "nothing applied; Job/",
            "/migrate (app/migrate.yaml): argocd.argoproj.io/hook='PostDelete': PostDelete hooks"
            " are not supported yet",
        ),
    ),
]


@pytest.fixture(scope="module")
def private_server(git_root):
    with GitHTTPServer(git_root, auth=("git", "right-password")) as server:
        yield server


def write_files(repo: GitRepo, files: dict[str, str | bytes | None]) -> str:
    for rel, content in files.items():
        path = repo.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("symlink:"):
            if path.exists() or path.is_symlink():
                path.unlink()
            os.symlink(content.removeprefix("symlink:"), path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
    text_files = {
        k: v
        for k, v in files.items()
        if v is None or (isinstance(v, str) and not v.startswith("symlink:"))
    }
    return repo.commit(text_files, "bad input")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_reported_and_nothing_is_applied(
    kube, operator, repo, namespace, private_server, case
):
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "data": {"password": base64.b64encode(b"wrong").decode()},
        }
    )
    source = repository(namespace, repo.url)
    app = application(namespace, **case.app)
    if case.first is not None:
        sha = repo.commit(case.first, "good")
        kube.apply(source)
        kube.apply(app)
        wait_for(lambda: synced_to(kube, namespace, sha), timeout=60, what="the good revision")
    write_files(repo, {**CANARY, **case.files})
    source["spec"].update({k: v for k, v in case.source.items() if k != "private"})
    if case.source.get("private"):
        source["spec"]["url"] = private_server.url(repo.bare.name)
    kube.apply(source)
    kube.apply(app)

    def reported():
        cond = condition(get_status(kube, case.on, namespace, "app"))
        return cond if cond.get("reason") == case.reason and cond["status"] == "False" else None

    try:
        cond = wait_for(reported, timeout=60, what=f"Ready=False reason {case.reason}")
    except AssertionError:
        actual = condition(get_status(kube, case.on, namespace, "app"))
        pytest.fail(f"expected reason {case.reason}, got {actual}")
    for part in case.fragments:
        assert part in cond["message"], f"{part!r} not in the message {cond['message']!r}"
    assert "root:x:0:0" not in cond["message"], "no file content leaks"
    wait_for(
        lambda: any(
            e["reason"] == case.reason and e["type"] == "Warning"
            for e in events_for(kube, namespace, "app")
        ),
        timeout=30,
        what="a Warning Event with the reason",
    )
    assert get(kube, "ConfigMap", namespace, "canary") is None, "nothing of it was applied"
    assert operator.alive
    obj = kube.get(
        API_VERSION,
        __import__("gitops_operator.objects").objects.ObjectRef(
            "gitops-operator.dev", case.on, namespace, "app"
        ),
    )
    assert obj is not None


def test_the_corpus_has_at_least_thirty_distinct_cases():
    assert len({case.name for case in CASES}) == len(CASES) >= 30
