"""Validate, apply in stages, diff, prune and assess sets of objects.

One module per verb, as fluxcd/pkg/ssa: ``changeset`` (what a verb did), ``apply``
(dry-run every object, then write in stages), ``diff`` (drift of live objects), ``delete``
(prune), ``wait`` (first-stage readiness and health); ``workers`` holds what they share;
``resource_manager`` puts the verbs behind one ``ResourceManager``.

Validation before mutation: every object passes a server-side-apply dry-run before the
first real write. The one exception is staging: objects whose kind or namespace comes from
a CRD or Namespace of the same set are validated right after that first stage is applied.
"""

from .changeset import Action, ChangeSet, ChangeSetEntry
from .delete import PruneResult
from .diff import Drift
from .plan import Plan
from .resource_manager import ResourceManager

__all__ = [
    "Action",
    "ChangeSet",
    "ChangeSetEntry",
    "Drift",
    "Plan",
    "PruneResult",
    "ResourceManager",
]
