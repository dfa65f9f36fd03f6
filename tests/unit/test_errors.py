import json
import re

import pytest
from kubernetes.client.exceptions import ApiException

from gitops_operator import errors
from gitops_operator.errors import (
    ApiError,
    DryRunError,
    GitOpsError,
    InvalidPatchError,
    SourceError,
    WaitTimeoutError,
    WebhookError,
    redact,
)
from gitops_operator.kube_errors import api_errors


def test_credentials_in_urls_are_redacted():
    text = "fetch https://user:s3cret@git.example.com/r.git and ssh://git:tok@h/x failed"
    assert redact(text) == "fetch https://***@git.example.com/r.git and ssh://***@h/x failed"


def test_error_messages_are_redacted_at_construction():
    err = SourceError("cannot reach https://bot:ghp_TOKEN@example.com/r.git")
    assert "ghp_TOKEN" not in str(err)
    assert err.reason == "GitOperationFailed"


def test_a_password_containing_at_signs_is_redacted_whole():
    text = "fatal: unable to access 'https://bot:p@ss@w0rd@git.example.com/r.git/'"
    assert redact(text) == "fatal: unable to access 'https://***@git.example.com/r.git/'"


def test_tokens_in_query_strings_are_redacted():
    text = "GET https://git.example.com/r.git/info/refs?service=x&access_token=glpat-SECRET failed"
    assert "glpat-SECRET" not in redact(text)
    assert "https://git.example.com/r.git/info/refs?service=***&access_token=***" in redact(text)


def test_text_without_urls_is_unchanged():
    text = "commit abc: mail me at a@b.c, key=value"
    assert redact(text) == text


@pytest.mark.parametrize(
    ("code", "transient"),
    [(0, True), (429, True), (500, True), (503, True), (400, False), (403, False), (422, False)],
)
def test_whether_an_api_error_is_retried_follows_its_status_code(code, transient):
    assert ApiError("refused", code=code, api_reason="").transient is transient


def test_a_mistyped_value_is_not_retried_although_the_server_answered_500():
    raw = ApiException(status=500, reason="Internal Server Error")
    raw.body = json.dumps(
        {
            "kind": "Status",
            "message": "failed to create typed patch object (apps/v1, Kind=Deployment):"
            " .spec.replicas: expected numeric (int or float), got string",
        }
    )
    with pytest.raises(InvalidPatchError) as caught, api_errors("apply Deployment/ns/web"):
        raise raw
    assert caught.value.code == 500
    assert caught.value.transient is False
    assert caught.value.api_reason == "Invalid", "the server gives no reason: say what it is"
    assert "spec.replicas" in caught.value.message


def test_another_server_error_stays_transient():
    raw = ApiException(status=500, reason="Internal Server Error")
    raw.body = json.dumps({"kind": "Status", "reason": "InternalError", "message": "etcd down"})
    with pytest.raises(ApiError) as caught, api_errors("apply Deployment/ns/web"):
        raise raw
    assert type(caught.value) is ApiError
    assert caught.value.transient is True


def test_a_dry_run_error_says_whether_the_first_stage_was_applied():
    assert DryRunError("refused", partial=True).partial is True
    assert DryRunError("refused").partial is False


def test_every_error_class_is_drawn_in_the_hierarchy():
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, GitOpsError)
    ]
    assert errors.__doc__ is not None
    drawn = set(re.findall(r"([A-Z]\w+Error)\b", errors.__doc__))
    assert {c.__name__ for c in classes} <= drawn
    assert WebhookError in classes and WaitTimeoutError in classes
