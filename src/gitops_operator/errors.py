"""One exception hierarchy whose messages a user can act on.

Each error carries a ``reason``: the CamelCase word that becomes the condition reason in
the resource's status and the Event reason. Whether an error is retried is decided by its
class (and, for ``ApiError``, by the HTTP status code), never by its message text::

    GitOpsError(reason)
    ├── StalledError              the user must act: bad spec, auth denied, render failure
    │   ├── InvalidSpecError
    │   ├── RenderError
    │   ├── SyncAnnotationError   an object's sync wave, sync option or hook annotation
    │   │                         that cannot be honoured, before any write
    │   ├── DryRunError(partial)  an object the API server refuses, before any write
    │   ├── VerificationError     a commit or tag unsigned, or signed by no trusted key
    │   └── ApplyError            a write refused after validation passed: the revision
    │                             fails (rolled back, or quarantined), never retried
    ├── RetryableError(requeue_after)   transient: retried after ``requeue_after`` seconds
    │   ├── SourceError           Git unreachable, ref missing, fetch timeout
    │   ├── SourceNotReadyError   the referenced GitRepository has no artifact and fails
    │   │   └── SourcePendingError    ... or is still fetching its first one (a Normal Event)
    │   │       └── SourceAwaitedError    ... for a new Application: nothing written yet
    │   ├── PrerequisiteMissingError  an object's Namespace or kind does not exist yet
    │   ├── ServiceAccountNotFoundError   the account the Application acts as is missing
    │   ├── SubstituteSourceNotFoundError a ConfigMap or Secret of postBuild.substituteFrom
    │   ├── SubstitutionError     post-build substitution failed (strict, syntax, YAML)
    │   └── PruneError            some stale objects could not be deleted
    ├── HealthCheckError          applied, but Degraded or not healthy by healthTimeout
    │   └── HookFailedError(written)  a PreSync or PostSync hook failed or timed out
    ├── ApiError(code, api_reason)    the API server refused a request (from ``kube.py``)
    │   └── InvalidPatchError     server-side apply could not type the object (a 500)
    ├── NotFoundError             the object or its kind does not exist (a 404)
    ├── FencedError               a write refused before it was sent: this replica no
    │                             longer owns the resource (sharding)
    ├── WaitTimeoutError          the CLI waited for an Application that did not get there
    ├── WebhookError(status)      a webhook delivery refused with an HTTP status
    └── GitHostError(status)      a Git host's API (GitHub, GitLab, Gitea) refused a call

Messages never contain credentials: ``redact`` strips userinfo from every URL.
"""

from __future__ import annotations

import re

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
# Greedy up to the last ``@`` before the path: a password may itself contain ``@``.
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)[^/]*@")
_QUERY_VALUE = re.compile(r"(?P<key>[?&;][^=&;#]*=)[^&;#]*")


def redact(text: str) -> str:
    """Remove ``user:password@`` and every query value (``?access_token=...``) from each
    URL in ``text``."""
    return _URL.sub(_redact_url, text)


def _redact_url(match: re.Match[str]) -> str:
    url = _USERINFO.sub(r"\g<scheme>***@", match.group(0), count=1)
    path, mark, query = url.partition("?")
    if not mark:
        return url
    return path + _QUERY_VALUE.sub(r"\g<key>***", mark + query)


class GitOpsError(Exception):
    """Base class: ``reason`` names the condition reason, ``str()`` is the message."""

    reason = "ReconciliationFailed"
    warning = True
    """Whether its Event is a Warning; waiting for something that is on its way is not."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(redact(message))
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self)


class StalledError(GitOpsError):
    """Retrying cannot help until the spec, the repository or a Secret changes."""

    reason = "Stalled"


class RetryableError(GitOpsError):
    """A transient failure: retry after ``requeue_after`` seconds."""

    reason = "RetryableFailure"

    def __init__(
        self, message: str, *, reason: str | None = None, requeue_after: float = 30.0
    ) -> None:
        super().__init__(message, reason=reason)
        self.requeue_after = requeue_after


class InvalidSpecError(StalledError):
    reason = "InvalidSpec"


class RenderError(StalledError):
    reason = "RenderFailed"


class SyncAnnotationError(StalledError):
    """An object asks, by annotation, for something this operator cannot do as asked (a
    wave that is not an integer, ``Replace=true``, a hook): refused before any write."""

    reason = "InvalidSyncAnnotation"


class DryRunError(StalledError):
    """The API server refused an object in a dry-run. ``partial`` is True when the first
    stage (CRDs and Namespaces) had already been applied; otherwise nothing was written."""

    reason = "DryRunFailed"

    def __init__(self, message: str, *, reason: str | None = None, partial: bool = False) -> None:
        super().__init__(message, reason=reason)
        self.partial = partial


class VerificationError(StalledError):
    """A commit or tag is unsigned, signed by a key the GitRepository does not trust, or
    its signature is bad: its revision is not published (the last verified one stays)
    until a new commit or a change of the trusted keys."""

    reason = "VerificationFailed"


class SourceError(RetryableError):
    reason = "GitOperationFailed"


class SourceNotReadyError(RetryableError):
    reason = "SourceNotReady"


class SourcePendingError(SourceNotReadyError):
    """The GitRepository has not failed: it is fetching its first artifact."""

    warning = False


class SourceAwaitedError(SourcePendingError):
    """A new Application (no status yet) whose GitRepository has not failed and is not
    there yet or is fetching its first artifact, within the grace after the Application's
    creation: the pass writes nothing (no status, no Event); the artifact wakes it."""


class ApplyError(StalledError):
    """The API server refused a write after every object passed its dry-run (or a first
    stage never became ready). The revision fails: it is rolled back when it may have
    changed the cluster, and quarantined either way; it is not retried. A transient API
    failure during a write is an ``ApiError`` instead, and is retried."""

    reason = "ApplyFailed"


class PrerequisiteMissingError(RetryableError):
    """Objects of the revision need a Namespace or a kind the cluster does not have yet
    (another Application, or a person, may create it). Nothing was applied; the revision
    is tried again every ``requeue_after`` seconds and never quarantined for it."""

    reason = "PrerequisiteMissing"


class ServiceAccountNotFoundError(RetryableError):
    """The ServiceAccount an Application acts as (its own, or the operator's default) does
    not exist in its namespace. Nothing is rendered or applied; the Application is tried
    again every ``requeue_after`` seconds (an administrator may create the account) and
    its revision is never quarantined for it."""

    reason = "ServiceAccountNotFound"


class SubstituteSourceNotFoundError(RetryableError):
    """A ConfigMap or Secret that ``spec.postBuild.substituteFrom`` names (not optional)
    does not exist, or cannot be read with the Application's rights. Nothing is applied;
    tried again every ``requeue_after`` seconds, and at once when the object appears."""

    reason = "SubstituteSourceNotFound"


class SubstitutionError(RetryableError):
    """Post-build substitution failed: a variable unset in strict mode, an expression it
    does not support, or a result that is no longer a Kubernetes object. Nothing is
    applied; retried (a change of a source ConfigMap or Secret wakes it at once), since
    the fix may be a value rather than a commit. Messages name objects and variables,
    never values."""

    reason = "SubstitutionFailed"


class PruneError(RetryableError):
    reason = "PruneFailed"


class HealthCheckError(GitOpsError):
    """A revision was applied but did not become healthy (Degraded, or healthTimeout)."""

    reason = "HealthCheckFailed"


class HookFailedError(HealthCheckError):
    """A PreSync or PostSync hook failed or did not complete within healthTimeout.
    ``written`` says whether any object of the revision was written before it (a failed
    PostSync: rolled back like a failed health check; a failed PreSync: nothing to undo)."""

    reason = "HookFailed"

    def __init__(self, message: str, *, written: bool) -> None:
        super().__init__(message)
        self.written = written


class NotFoundError(GitOpsError):
    """An object or API resource does not exist (raised by the client layer)."""

    reason = "NotFound"


class ApiError(GitOpsError):
    """The API server refused a request; ``code`` is the HTTP status (0: no answer at all),
    ``api_reason`` the Status reason word."""

    reason = "ApiError"

    def __init__(self, message: str, *, code: int, api_reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.api_reason = api_reason or "Unknown"

    @property
    def transient(self) -> bool:
        """Lost connections (0), throttling (429) and server errors (5xx) may succeed on a
        retry; any other answer is the API server's verdict on the request."""
        return self.code in (0, 429) or self.code >= 500


class FencedError(GitOpsError):
    """A write not sent: the replica does not (or may no longer) own the resource it
    reconciles; its new owner does the work."""

    reason = "NotOwned"
    warning = False


class InvalidPatchError(ApiError):
    """Server-side apply answered 500 because it could not build a typed object from the
    manifest (a value of the wrong type): the manifest is at fault, a retry gets the same
    answer."""

    @property
    def transient(self) -> bool:
        return False


class WaitTimeoutError(GitOpsError):
    """The CLI waited for an Application to reach a state, and it did not in time."""

    reason = "Timeout"


class WebhookError(GitOpsError):
    """A webhook delivery we refuse: ``status`` is the HTTP answer; ``reason`` is the
    metrics label word (``unauthorized``, ``bad_request``, ``too_large``...)."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(message or reason, reason=reason)
        self.status = status


class GitHostError(GitOpsError):
    """A Git host's REST API call that failed: ``status`` is its HTTP code, or None when
    the host could not be reached. The message never holds the token."""

    reason = "GitHostError"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
