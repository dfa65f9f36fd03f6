from gitops_operator.errors import SourceError, redact


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
