"""The ``gitops-operator`` command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import __version__, runner


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gitops-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    runner.add_arguments(commands.add_parser("run", help="run the operator against the cluster"))
    args = parser.parse_args(argv)
    if args.command == "run":
        return runner.run(args)
    return 2  # pragma: no cover - argparse enforces the choices
