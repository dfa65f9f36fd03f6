"""The ``gitops-operator`` command line: one module per group of commands.

``app`` builds the parser and maps errors to exit codes; ``render`` (render, diff),
``revisions`` (diff --base: two revisions of a checkout, offline), ``inspect`` (status,
history, diagram) and ``actions`` (sync, retry, rollback, suspend, resume) hold the
commands; ``cluster`` connects and waits; ``output`` formats what is printed (a diff of
two revisions: ``gitops_operator.diff_report``, shared with the operator's pull-request
plans).
"""

from .app import build_parser, main

__all__ = ["build_parser", "main"]
