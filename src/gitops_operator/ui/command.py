"""``gitops-operator ui``: flags, the UI's own client, and the server's life."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from ..config import Settings
from ..kube import load_api_client
from ..kube_ui import UiKubeClient
from ..render import RenderTools
from ..source import GitSource
from .revisions import Renderer
from .server import UiServer

LOCALHOST = "127.0.0.1"
FIELD_MANAGER = "gitops-operator-ui"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or in-cluster)")
    parser.add_argument("--host", help="address to listen on (default: all)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--insecure-local",
        action="store_true",
        help="no sign-in: every visitor acts with the kubeconfig's own rights; for a demo"
        f" on this machine only (listens on {LOCALHOST}, cookies without Secure)",
    )
    parser.add_argument("--log-level", default="INFO")


def serve(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    host = args.host or ("0.0.0.0" if not args.insecure_local else LOCALHOST)  # noqa: S104
    if args.insecure_local and host != LOCALHOST:
        print(f"--insecure-local listens on {LOCALHOST} only", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    own = UiKubeClient(load_api_client(args.kubeconfig), field_manager=FIELD_MANAGER)
    renderer = Renderer(
        GitSource.from_settings(settings, cache_dir=settings.cache_dir / "ui"),
        RenderTools.from_settings(settings),
    )
    server = UiServer(
        own,
        renderer,
        insecure_local=args.insecure_local,
        health_check_exprs=settings.health_check_exprs,
    )
    print(f"gitops-operator ui on http://{host}:{args.port}", file=sys.stderr, flush=True)
    web.run_app(server.app(), host=host, port=args.port, print=None, access_log=None)
    return 0
