"""The tenancy matrix: tenants A and B on one cluster, each a namespace with its own
GitRepository and a ServiceAccount ``gitops-reconciler`` bound to a Role over ConfigMaps
of its namespace.

With the operator's defaults (the isolated mode), every way A might reach past its own
namespace is refused with a condition and an Event, and nothing of it is applied. In the
isolated and the permissive mode alike, the legitimate Applications sync. One operator
per mode, shared by that mode's tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from gitops_operator.api import API_VERSION, GROUP
from gitops_operator.kube import KubeClient
from gitops_operator.objects import ObjectRef

from .apps import application, configmap, repository
from .support import GitRepo, Operator, condition, events_for, events_with, get_status, wait_for
from .test_bad_input import ready_false
from .test_reconcile import get
from .test_tenancy import operator_with, tenant

RECONCILER = "gitops-reconciler"
RBAC = "rbac.authorization.k8s.io"

MODES: dict[str, dict[str, str | None]] = {
    # the binary's own defaults: no setting at all
    "isolated": {"GITOPS_DEFAULT_SERVICE_ACCOUNT": None, "GITOPS_NO_CROSS_NAMESPACE_REFS": None},
    # the chart's documented way back (rbac.clusterAdmin=true gives the pod the rights the
    # test's kubeconfig already has)
    "permissive": {"GITOPS_DEFAULT_SERVICE_ACCOUNT": "", "GITOPS_NO_CROSS_NAMESPACE_REFS": "false"},
}


@dataclass(frozen=True)
class World:
    mode: str
    kube: KubeClient
    a: str
    b: str
    c: str
    """A namespace not onboarded: no gitops-reconciler in it."""
    repo_a: GitRepo


def manifest(obj: dict[str, Any]) -> str:
    return yaml.safe_dump(obj)


def in_namespace(name: str, namespace: str) -> str:
    obj = yaml.safe_load(configmap(name, v="1"))
    obj["metadata"]["namespace"] = namespace
    return manifest(obj)


def tenant_a_files(a: str, b: str) -> dict[str, str]:
    """What tenant A pushes to its own repository: one path per Application."""
    admin = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{a}-admin"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": RECONCILER, "namespace": a}],
    }
    role = {
        "apiVersion": f"{RBAC}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": f"{a}-everything"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"{a}-more"}}
    return {
        "own/cm.yaml": configmap("a-own", v="1"),
        "into-b/cm.yaml": in_namespace("from-a", b),
        "kube-system/cm.yaml": in_namespace(f"from-{a}", "kube-system"),
        "cluster-rbac/role.yaml": manifest(role),
        "cluster-rbac/binding.yaml": manifest(admin),
        "namespace/ns.yaml": manifest(namespace),
        "target-b/cm.yaml": configmap("targeted", v="1"),
        "as-b/cm.yaml": configmap("as-b", v="1"),
        "after-b/cm.yaml": configmap("after-b", v="1"),
        "leaving/cm.yaml": configmap("leaving", v="1"),
    }


@dataclass(frozen=True)
class Attack:
    """An Application tenant A creates in its namespace, and what must stay absent."""

    path: str
    reason: str
    spec: Callable[[World], dict[str, Any]]
    absent: Callable[[World], list[ObjectRef]]
    names_account: bool = True
    """Whether the refusal names the account the Application acted as."""


def cm(namespace: str, name: str) -> ObjectRef:
    return ObjectRef("", "ConfigMap", namespace, name)


ATTACKS = {
    "object-in-b": Attack("into-b", "Forbidden", lambda w: {}, lambda w: [cm(w.b, "from-a")]),
    "targetNamespace-b": Attack(
        "target-b",
        "Forbidden",
        lambda w: {"targetNamespace": w.b},
        lambda w: [cm(w.b, "targeted"), cm(w.a, "targeted")],
    ),
    "object-in-kube-system": Attack(
        "kube-system", "Forbidden", lambda w: {}, lambda w: [cm("kube-system", f"from-{w.a}")]
    ),
    "cluster-rbac": Attack(
        "cluster-rbac",
        "Forbidden",
        lambda w: {},
        lambda w: [
            ObjectRef(RBAC, "ClusterRoleBinding", "", f"{w.a}-admin"),
            ObjectRef(RBAC, "ClusterRole", "", f"{w.a}-everything"),
        ],
    ),
    "namespace": Attack(
        "namespace",
        "Forbidden",
        lambda w: {},
        lambda w: [ObjectRef("", "Namespace", "", f"{w.a}-more")],
    ),
    "source-of-b": Attack(
        "app",  # a path of B's repository
        "CrossNamespaceRef",
        lambda w: {"sourceRef": {"name": "app", "namespace": w.b}},
        lambda w: [cm(w.a, "b-private")],
        names_account=False,
    ),
    "account-of-b": Attack(
        "as-b",
        "ServiceAccountNotFound",
        lambda w: {"serviceAccountName": "b-deployer"},
        lambda w: [cm(w.a, "as-b"), cm(w.b, "as-b")],
        names_account=False,
    ),
    "dependsOn-b": Attack(
        "after-b",
        "CrossNamespaceRef",
        lambda w: {"dependsOn": [{"name": "own", "namespace": w.b}]},
        lambda w: [cm(w.a, "after-b")],
        names_account=False,
    ),
}


def live(kube: KubeClient, ref: ObjectRef) -> dict[str, Any] | None:
    version = f"{ref.group}/v1" if ref.group else "v1"
    return kube.get(version, ref)


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, kube: KubeClient, operator: Operator, git_root, git_server
) -> Iterator[World]:
    mode = request.param
    suffix = uuid.uuid4().hex[:6]
    a, b, c = f"tenant-a-{suffix}", f"tenant-b-{suffix}", f"tenant-c-{suffix}"
    for ns in (a, b, c):
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    tenant(kube, a, RECONCILER)
    tenant(kube, b, RECONCILER)
    # B's own deployer, with more rights than B's default account: A must not borrow it.
    tenant(kube, b, "b-deployer")
    repo_a = GitRepo.create(git_root, f"a-{suffix}", git_server.url(f"a-{suffix}.git"))
    repo_b = GitRepo.create(git_root, f"b-{suffix}", git_server.url(f"b-{suffix}.git"))
    repo_a.commit(tenant_a_files(a, b), "tenant A")
    repo_b.commit({"app/cm.yaml": configmap("b-private", token="b-only")}, "tenant B")
    kube.apply(repository(a, repo_a.url))
    kube.apply(repository(b, repo_b.url))
    with operator_with(operator, **MODES[mode]):
        yield World(mode, kube, a, b, c, repo_a)
    for ref in (
        ObjectRef(RBAC, "ClusterRoleBinding", "", f"{a}-admin"),
        ObjectRef(RBAC, "ClusterRole", "", f"{a}-everything"),
        cm("kube-system", f"from-{a}"),
        ObjectRef("", "Namespace", "", f"{a}-more"),
    ):
        kube.delete(f"{ref.group}/v1" if ref.group else "v1", ref)
    for ns in (a, b, c):
        kube.delete("v1", ObjectRef("", "Namespace", "", ns))


def refused(kube: KubeClient, namespace: str, name: str, reason: str) -> dict[str, Any]:
    """The Ready=False condition with ``reason``, once its Event has been posted too."""
    cond = wait_for(
        lambda: ready_false(kube, "Application", namespace, name, reason),
        timeout=60,
        what=f"Application {name} refused with {reason}",
    )
    wait_for(
        lambda: [e for e in events_for(kube, namespace, name) if e.get("reason") == reason],
        timeout=30,
        what=f"a {reason} Event",
    )
    return cond


@pytest.mark.parametrize("world", ["isolated"], indirect=True)
@pytest.mark.parametrize("attack", list(ATTACKS), ids=list(ATTACKS))
def test_tenant_a_is_refused_everything_beyond_its_namespace(world: World, attack: str):
    kube, a, b = world.kube, world.a, world.b
    plan = ATTACKS[attack]
    name = f"x-{attack.lower()}"
    kube.apply(application(a, name=name, path=plan.path, **plan.spec(world)))
    cond = refused(kube, a, name, plan.reason)
    if plan.names_account:
        assert f"system:serviceaccount:{a}:{RECONCILER}" in cond["message"]
    if plan.reason == "ServiceAccountNotFound":
        assert f"ServiceAccount {a}/b-deployer not found" in cond["message"]
        assert b not in cond["message"]
    if plan.reason == "CrossNamespaceRef":
        assert "forbids" in cond["message"]
    status = get_status(kube, "Application", a, name)
    assert not status.get("inventory"), "nothing recorded as owned"
    assert not status.get("lastAppliedRevision")
    for ref in plan.absent(world):
        assert live(kube, ref) is None, f"{ref} was applied"


@pytest.mark.parametrize("world", ["isolated"], indirect=True)
def test_a_qualified_account_name_cannot_name_another_namespace(world: World):
    for name in (f"{world.b}:b-deployer", f"system:serviceaccount:{world.b}:b-deployer"):
        with pytest.raises(Exception, match="serviceAccountName"):
            world.kube.apply(application(world.a, name="qualified", serviceAccountName=name))
    assert get_status(world.kube, "Application", world.a, "qualified") == {}


@pytest.mark.parametrize("world", ["isolated"], indirect=True)
def test_a_namespace_not_onboarded_waits_for_its_account_then_syncs(world: World):
    kube, c = world.kube, world.c
    kube.apply(repository(c, world.repo_a.url))
    kube.apply(application(c, name="own", path="own"))
    cond = refused(kube, c, "own", "ServiceAccountNotFound")
    assert f"ServiceAccount {c}/{RECONCILER} not found" in cond["message"]
    assert "GITOPS_DEFAULT_SERVICE_ACCOUNT" in cond["message"]
    status = get_status(kube, "Application", c, "own")
    assert condition(status, "Stalled").get("status") != "True", "retried, not stalled"
    assert not status.get("failedRevision"), "the revision is not quarantined for it"
    assert get(kube, "ConfigMap", c, "a-own") is None

    tenant(kube, c, RECONCILER)  # the administrator onboards the namespace
    wait_for(
        lambda: condition(get_status(kube, "Application", c, "own")).get("status") == "True",
        timeout=60,
        what="the sync once the account exists",
    )
    assert get(kube, "ConfigMap", c, "a-own")["data"] == {"v": "1"}


@pytest.mark.parametrize("world", ["isolated"], indirect=True)
def test_an_application_whose_account_is_gone_is_deleted_and_leaves_its_objects(world: World):
    kube, a = world.kube, world.a
    tenant(kube, a, "temporary")
    kube.apply(application(a, name="leaving", path="leaving", serviceAccountName="temporary"))
    wait_for(
        lambda: condition(get_status(kube, "Application", a, "leaving")).get("status") == "True",
        timeout=60,
        what="the sync as the temporary account",
    )
    kube.delete("v1", ObjectRef("", "ServiceAccount", a, "temporary"))
    kube.delete(API_VERSION, ObjectRef(GROUP, "Application", a, "leaving"))
    wait_for(
        lambda: kube.get(API_VERSION, ObjectRef(GROUP, "Application", a, "leaving")) is None,
        timeout=60,
        what="the Application gone, not held by its finalizer",
    )
    (event,) = events_with(kube, a, "leaving", "ServiceAccountNotFound")
    assert "left in place" in event["message"]
    assert get(kube, "ConfigMap", a, "leaving") is not None, "nothing deleted as the operator"


LEGITIMATE = {
    "a-own": ("a", {"path": "own"}, ("a", "a-own")),
    "a-named-account": ("a", {"path": "own", "serviceAccountName": RECONCILER}, ("a", "a-own")),
    "b-own": ("b", {"path": "app"}, ("b", "b-private")),
}


@pytest.mark.parametrize("world", list(MODES), indirect=True)
@pytest.mark.parametrize("app", list(LEGITIMATE), ids=list(LEGITIMATE))
def test_legitimate_applications_sync_in_both_modes(world: World, app: str):
    kube = world.kube
    tenant_key, spec, (object_key, object_name) = LEGITIMATE[app]
    namespace = getattr(world, tenant_key)
    kube.apply(application(namespace, name=app, **spec))
    wait_for(
        lambda: condition(get_status(kube, "Application", namespace, app)).get("status") == "True",
        timeout=60,
        what=f"{app} Ready in the {world.mode} mode",
    )
    assert get(kube, "ConfigMap", getattr(world, object_key), object_name) is not None


@pytest.mark.parametrize("world", ["permissive"], indirect=True)
def test_the_permissive_mode_shares_sources_across_namespaces(world: World):
    kube, a, b = world.kube, world.a, world.b
    kube.apply(application(a, name="shared", path="app", sourceRef={"name": "app", "namespace": b}))
    wait_for(
        lambda: condition(get_status(kube, "Application", a, "shared")).get("status") == "True",
        timeout=60,
        what="a source of another namespace used in the permissive mode",
    )
    assert get(kube, "ConfigMap", a, "b-private")["data"] == {"token": "b-only"}
