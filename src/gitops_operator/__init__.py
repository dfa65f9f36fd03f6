"""gitops-operator: a Kubernetes GitOps operator.

Git is the single source of truth: the operator pulls the desired state from Git, applies
it with server-side apply, proves it is healthy and keeps it that way.
"""

__version__ = "0.1.0"
