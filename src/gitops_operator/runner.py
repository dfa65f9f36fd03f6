"""``gitops-operator run``: logging, optional leader election, then the kopf operator."""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .config import Settings
from .errors import GitOpsError
from .leases import release_lease, run_leader_election
from .sharding import ShardingMode
from .shards import Shards

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or in-cluster)")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only these namespaces (repeatable; default: all)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument(
        "--liveness-port", type=int, default=0, help="serve /healthz on this port (0: off)"
    )


def leader_identity() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def wait_for_leadership(settings: Settings, kubeconfig: str | None) -> None:
    """Return once this process leads; exit at once if it ever stops leading.

    kopf's own peering freezes equal-priority peers, so a Lease decides instead. Losing
    the Lease ends the process (as controller-runtime does): a new leader may already be
    applying, and the Deployment restarts this replica as a standby."""
    identity = leader_identity()
    leading = threading.Event()

    def stopped() -> None:
        log.error("lost the leader Lease %s; exiting", settings.leader_election_name)
        logging.shutdown()
        os._exit(1)

    duration = settings.lease_duration
    thread = threading.Thread(
        target=run_leader_election,
        kwargs={
            "name": settings.leader_election_name,
            "namespace": settings.leader_election_namespace,
            "identity": identity,
            "lease_duration": duration,
            "renew_deadline": max(2, duration * 2 // 3),
            "retry_period": max(1, duration // 5),
            "on_started": leading.set,
            "on_stopped": stopped,
            "kubeconfig": kubeconfig,
        },
        daemon=True,
        name="leader-election",
    )
    thread.start()
    log.info(
        "waiting to lead (Lease %s/%s, identity %s)",
        settings.leader_election_namespace,
        settings.leader_election_name,
        identity,
    )
    while not leading.wait(1.0):
        if not thread.is_alive():
            raise SystemExit("leader election stopped")
    log.info("leading as %s", identity)


def check_sharding(settings: Settings) -> None:
    """Stop at start on sharding settings that cannot work (they are read again when the
    runtime is built)."""
    if settings.sharding is ShardingMode.HASH and settings.leader_elect:
        raise SystemExit(
            "GITOPS_LEADER_ELECT and GITOPS_SHARDING=hash are exclusive: hash-sharded"
            " replicas all work (labels mode may elect a leader per shard)"
        )
    try:
        Shards.from_settings(settings)
    except ValueError as exc:
        raise SystemExit(f"sharding: {exc}") from exc


@contextmanager
def standby_probe(port: int) -> Iterator[None]:
    """Answer liveness probes while standing by (kopf serves them once it runs)."""
    if not port:
        yield
        return

    class Probe(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("0.0.0.0", port), Probe)  # noqa: S104 - kubelet probes
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _quiet_event_handlers(record: logging.LogRecord) -> bool:
    """Drop kopf's line for every watch event our wake-up handlers see: one per status
    write of every resource, and none of them says anything."""
    return not (
        record.levelno == logging.INFO
        and record.getMessage().startswith(
            ("Handler 'repository_changed' succeeded", "Handler 'application_changed' succeeded")
        )
    )


_M_ARENA_MAX = -8  # glibc's mallopt parameter number


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before any thread starts. Each of the ~20 threads (kopf,
    the reconcile and apply pools) would otherwise get an arena of its own, up to 8 per
    core, that rarely gives freed memory back: peak RSS would follow the thread count
    rather than the load. ``MALLOC_ARENA_MAX`` in the environment wins; without glibc
    this does nothing."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        log.debug("not glibc: malloc arenas left as they are")


GC_THRESHOLD = (50_000, 10, 10)
"""gc.set_threshold: a young collection every 50 000 allocations, not 700. Many
Applications keep a large heap of long-lived objects (bodies, inventories, snapshots,
shared lists); with the default, the parsing of every pass triggered collections often
enough that a full one over that heap was a visible share of a steady pass's CPU.
Most garbage here is acyclic JSON, freed by reference counting anyway."""


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLD)


class ObjectLineFormatter(logging.Formatter):
    """One key=value line per event; a line about one resource names it (kopf's per-object
    loggers carry the resource as ``k8s_ref``), so a busy operator's log can be read."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s level=%(levelname)s logger=%(name)s%(object)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ref = getattr(record, "k8s_ref", None)
        record = copy.copy(record)
        record.object = (
            f" object={ref.get('kind')}/{ref.get('namespace')}/{ref.get('name')}"
            if isinstance(ref, dict) and ref.get("name")
            else ""
        )
        return super().format(record)


def run(args: argparse.Namespace) -> int:
    limit_malloc_arenas()
    tune_gc()
    import kopf

    from . import controller  # noqa: F401 - registers the handlers
    from .kopf_session import bound_for  # registers the login: a bounded connection pool

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(ObjectLineFormatter())
    stream.addFilter(_quiet_event_handlers)
    logging.basicConfig(level=args.log_level.upper(), handlers=[stream])
    settings = Settings.from_env()
    check_sharding(settings)
    if settings.leader_elect:
        with standby_probe(args.liveness_port):
            wait_for_leadership(settings, args.kubeconfig)
    bound_for(args.namespace)
    liveness = f"http://0.0.0.0:{args.liveness_port}/healthz" if args.liveness_port else None
    kopf.run(
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=liveness,
    )
    if settings.leader_elect:
        # kopf has stopped (SIGTERM: a rollout, a deleted pod): hand over at once
        try:
            released = release_lease(
                name=settings.leader_election_name,
                namespace=settings.leader_election_namespace,
                identity=leader_identity(),
                kubeconfig=args.kubeconfig,
            )
        except GitOpsError as exc:
            log.warning("could not release the leader Lease: %s", exc.message)
        else:
            if released:
                log.info("released the leader Lease %s", settings.leader_election_name)
        logging.shutdown()
        os._exit(0)  # before the election thread renews what was just released
    return 0
