"""The ``gitops-operator`` command: run the operator, or inspect and steer Applications.

Exit codes: 0 success; 1 the answer is "no" (``diff``: objects differ; ``sync``, ``retry``,
``rollback``: the Application is not Ready afterwards); 2 an error, printed as one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

import yaml

from .. import __version__, runner, ui
from ..api import RenderType, parse_duration, status_fields
from ..errors import GitOpsError, InvalidSpecError
from . import actions as action_commands
from . import inspect as inspect_commands
from . import render as render_commands
from . import revisions
from .cluster import default_namespace
from .output import OutputFormat

Handler = Callable[[argparse.Namespace], int]
Parser = argparse.ArgumentParser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return runner.run(args)
    if args.command == "ui":
        return ui.serve(args)
    handler: Handler = args.handler
    try:
        if args.namespace is None:
            args.namespace = default_namespace(args.kubeconfig)
        return handler(args)
    except GitOpsError as exc:
        return _fail(exc.message)
    except KeyboardInterrupt:
        return _fail("interrupted", code=130)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        return _fail(str(exc))
    except Exception as exc:  # a bug: still one line, never a traceback
        return _fail(f"unexpected {type(exc).__name__}: {exc}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitops-operator",
        description="Run the GitOps operator, or inspect and steer its Applications.",
        epilog="Exit codes: 0 success; 1 objects differ (diff) or the Application is not"
        " Ready afterwards (sync, retry, rollback); 2 an error.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runner.add_arguments(commands.add_parser("run", help="run the operator against the cluster"))
    ui.add_arguments(commands.add_parser("ui", help="serve the web UI (sign-in with a token)"))

    def command(
        name: str,
        handler: Handler,
        help: str,
        output: str | None = "table",
        more_formats: Sequence[str] = (),
    ) -> Parser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        sub.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
        sub.add_argument(
            "-n", "--namespace", help="namespace (default: the kubeconfig context's, or default)"
        )
        if output:  # a command that prints data
            formats = [*(f.value for f in OutputFormat), *more_formats]
            sub.add_argument("-o", "--output", choices=formats, default=output)
        return sub

    render = command("render", render_commands.render_command, "render a directory offline", "yaml")
    render.add_argument("path", metavar="PATH")
    _render_flags(render)
    diff = command(
        "diff",
        _diff,
        "what a sync, or a change in Git, would change (exit 1: some)",
        more_formats=[revisions.MARKDOWN],
    )
    diff.add_argument(
        "target",
        metavar="APP | PATH",
        nargs="?",
        help="the Application to compare with the cluster; with --base, the directory"
        " of the checkout to render (default: the current one)",
    )
    diff.add_argument(
        "--base",
        metavar="REV",
        help="compare two revisions of the local checkout instead, offline: REV (a"
        " branch, tag or SHA) is the base",
    )
    diff.add_argument("--head", metavar="REV", help="the head (default: the working tree)")
    diff.add_argument(
        "--app",
        metavar="FILE",
        help="render as the Application manifest FILE (in the checkout) says: path,"
        " render settings, targetNamespace, ignoreDifferences, read in each revision",
    )
    _render_flags(diff)
    status = command("status", inspect_commands.status, "list Applications, or show one")
    status.add_argument("app", metavar="APP", nargs="?")
    status.add_argument("-A", "--all-namespaces", action="store_true")
    history = command(
        status_fields.HISTORY, inspect_commands.history, "an Application's sync history"
    )
    history.add_argument("app", metavar="APP")
    for name, handler, help in (
        (status_fields.SYNC, action_commands.sync, "reconcile an Application now"),
        ("retry", action_commands.retry, "try a quarantined (failed) revision again"),
        ("rollback", action_commands.rollback, "go back to a revision of the history"),
    ):
        sub = command(name, handler, help)
        sub.add_argument("app", metavar="APP")
        sub.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True)
        sub.add_argument(
            "--timeout",
            type=_duration,
            default=300.0,
            help="e.g. 90s, 5m or 60 (seconds); default 5m",
        )
    rollback = commands.choices["rollback"]
    rollback.add_argument("--to", required=True, metavar="REV", help="main@sha1:<sha>, or a SHA")
    for name, handler, help in (
        ("suspend", action_commands.suspend, "stop applying changes to an Application"),
        ("resume", action_commands.resume, "apply changes to an Application again"),
    ):
        command(name, handler, help).add_argument("app", metavar="APP")
    diagram = command("diagram", inspect_commands.diagram, "draw the live GitOps loop (SVG)", None)
    diagram.add_argument("app", metavar="APP")
    diagram.add_argument(
        "-o", "--output", dest="file", metavar="FILE.svg", help="default APP.svg; - for stdout"
    )
    return parser


def _render_flags(parser: Parser) -> None:
    """How to render a directory offline: ``render``'s flags, and ``diff --base``'s."""
    parser.add_argument("--type", choices=[t.value for t in RenderType], default="auto")
    parser.add_argument("--release-name", help="Helm release name (default: the directory's)")
    parser.add_argument(
        "--values-file", action="append", default=[], metavar="FILE", help="Helm value file"
    )
    parser.add_argument(
        "--kube-version", help="Kubernetes version Helm templates see (default: Helm's own)"
    )
    parser.add_argument(
        "--api-versions",
        action="append",
        default=[],
        metavar="GROUP/VERSION[/KIND]",
        help="API version Helm templates see, in addition to Helm's own (repeatable)",
    )


def _diff(args: argparse.Namespace) -> int:
    """Offline between two revisions with ``--base``; else desired vs live in the cluster."""
    if args.base is not None:
        return revisions.diff_revisions(args)
    offline_only = {
        "--head": args.head,
        "--app": args.app,
        "-o markdown": args.output == revisions.MARKDOWN,
        "--type": args.type != "auto",
        "--release-name": args.release_name,
        "--values-file": args.values_file,
        "--kube-version": args.kube_version,
        "--api-versions": args.api_versions,
    }
    if given := [flag for flag, value in offline_only.items() if value]:
        raise InvalidSpecError(f"{', '.join(given)}: only with --base (a diff of two revisions)")
    if not args.target:
        raise InvalidSpecError("name the Application to diff, or give --base to diff revisions")
    return render_commands.diff_command(args)


def _duration(text: str) -> float:
    """``5m``, ``90s``, or a bare number of seconds, as ``kubectl wait --timeout`` takes."""
    if text.strip().isdigit():
        return float(text)
    try:
        return parse_duration(text, field_name="--timeout")
    except GitOpsError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def _fail(message: str, code: int = 2) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code
