"""Secret values are masked out of what the API server says about a Secret."""

from __future__ import annotations

import base64

from gitops_operator.kube import mask_secret_values

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "s", "namespace": "a"},
    "data": {"token": base64.b64encode(b"tok-plain-4412").decode()},
    "stringData": {"password": 73105296841},
}


def test_a_typed_patch_error_loses_the_value():
    message = (
        "failed to create typed patch object (/v1, Kind=Secret) a/s: .stringData.password:"
        " expected string, got &value.valueUnstructured{Value:73105296841}"
    )
    masked = mask_secret_values(message, SECRET)
    assert "73105296841" not in masked
    assert masked.startswith("failed to create typed patch object (/v1, Kind=Secret) a/s")


def test_quoted_invalid_values_and_known_values_are_masked():
    message = 'Secret "s" is invalid: data[token]: Invalid value: "tok-plain-4412": bad'
    assert "tok-plain-4412" not in mask_secret_values(message, SECRET)
    encoded = SECRET["data"]["token"]
    assert encoded not in mask_secret_values(f"cannot use {encoded} here", SECRET)
