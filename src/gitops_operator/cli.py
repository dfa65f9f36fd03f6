"""The ``gitops-operator`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitops-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against the current cluster")
    run.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or in-cluster)")
    run.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only these namespaces (repeatable; default: all)",
    )
    run.add_argument("--log-level", default="INFO")
    run.add_argument(
        "--liveness-port", type=int, default=0, help="serve /healthz on this port (0: off)"
    )
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    return 2  # pragma: no cover - argparse enforces the choices


def _run(args: argparse.Namespace) -> int:
    import kopf

    from . import controller  # noqa: F401 - registers the handlers

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
        stream=sys.stderr,
    )
    liveness = f"http://0.0.0.0:{args.liveness_port}/healthz" if args.liveness_port else None
    kopf.run(
        standalone=True,
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=liveness,
    )
    return 0
