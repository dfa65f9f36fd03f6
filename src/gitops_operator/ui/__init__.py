"""The web UI: ``gitops-operator ui``. Applications, their live loop, objects, history
and Events, read through the Kubernetes API as the person using it (TokenReview, then
impersonation), so RBAC decides what each person sees and may do."""

from .command import add_arguments, serve

__all__ = ["add_arguments", "serve"]
