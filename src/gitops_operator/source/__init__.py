"""Git sources: resolve a ref with one ls-remote, fetch it once, keep the tree by SHA."""

from .auth import Credentials
from .cache import Artifact, credentials_scope
from .git import GitSource
from .refs import Revision
from .signatures import ObjectKind, Signer
from .trust import TrustedKeys, trusted_keys
from .verify import verify_object
from .worktree import commit_tree, committed_view, repository_root

__all__ = [
    "Artifact",
    "Credentials",
    "GitSource",
    "ObjectKind",
    "Revision",
    "Signer",
    "TrustedKeys",
    "commit_tree",
    "committed_view",
    "credentials_scope",
    "repository_root",
    "trusted_keys",
    "verify_object",
]
