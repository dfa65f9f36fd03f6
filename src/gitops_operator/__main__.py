"""``python -m gitops_operator``: the same as the ``gitops-operator`` command."""

import sys

from .cli import main

sys.exit(main())
