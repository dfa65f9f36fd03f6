from gitops_operator.errors import SourceError, redact


def test_credentials_in_urls_are_redacted():
    text = "fetch https://user:s3cret@git.example.com/r.git and ssh://git:tok@h/x failed"
    assert redact(text) == "fetch https://***@git.example.com/r.git and ssh://***@h/x failed"


def test_error_messages_are_redacted_at_construction():
    err = SourceError("cannot reach https://bot:ghp_TOKEN@example.com/r.git")
    assert "ghp_TOKEN" not in str(err)
    assert err.reason == "GitOperationFailed"
