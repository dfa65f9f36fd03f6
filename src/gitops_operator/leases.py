"""The leader Lease of the operator's replicas: hold it (client-go's election, through
the client library) and give it up on the way out."""

from __future__ import annotations

import os
from collections.abc import Callable

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from .kube import REQUEST_TIMEOUT, load_api_client
from .kube_errors import api_errors


def run_leader_election(
    *,
    name: str,
    namespace: str,
    identity: str,
    lease_duration: int,
    renew_deadline: int,
    retry_period: int,
    on_started: Callable[[], None],
    on_stopped: Callable[[], None],
    kubeconfig: str | None = None,
) -> None:
    """Block until this process holds the ``coordination.k8s.io`` Lease ``name``, call
    ``on_started`` (in a thread), renew it, and call ``on_stopped`` once it is lost."""
    from kubernetes.leaderelection import electionconfig, leaderelection
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=kubeconfig)
    lock = LeaseLock(name, namespace, identity)
    election = electionconfig.Config(
        lock, lease_duration, renew_deadline, retry_period, on_started, on_stopped
    )
    leaderelection.LeaderElection(election).run()


def release_lease(
    *, name: str, namespace: str, identity: str, kubeconfig: str | None = None
) -> bool:
    """Give up the Lease ``name`` if ``identity`` holds it, as client-go's ReleaseOnCancel
    does: a standby takes it at its next try instead of waiting out the lease. True when
    it was released.

    An update of the Lease as read (its resourceVersion), with the verbs election needs
    anyway (get, update): if another replica took it meanwhile, the update conflicts and
    nothing is released."""
    api = client.CoordinationV1Api(load_api_client(kubeconfig, pool_size=1))
    with api_errors(f"release Lease {namespace}/{name}"):
        lease = api.read_namespaced_lease(name, namespace, _request_timeout=REQUEST_TIMEOUT)
        if lease.spec is None or lease.spec.holder_identity != identity:
            return False
        lease.spec.holder_identity = None
        lease.spec.lease_duration_seconds = 1
        try:
            api.replace_namespaced_lease(name, namespace, lease, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
    return True
