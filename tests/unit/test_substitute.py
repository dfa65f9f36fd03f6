"""Post-build substitution: Flux's syntax, precedence of spec fields, results and errors."""

from __future__ import annotations

import pytest
import yaml

from gitops_operator.api.substitute import PostBuild, SourceKind, parse_post_build
from gitops_operator.errors import InvalidSpecError, SubstitutionError
from gitops_operator.objects import load_manifests
from gitops_operator.runtime import track_substitute_sources
from gitops_operator.substitute import mask_values, substitute_manifests, substitute_text

VARS = {"APP": "web", "EMPTY": "", "N": "3"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${APP}", "web"),
        ("app-${APP}-${N}", "app-web-3"),
        ("${UNSET}", ""),
        ("${UNSET:=blue}", "blue"),
        ("${UNSET:-blue}", "blue"),
        ("${APP:=blue}", "web"),
        ("${EMPTY:=blue}", "blue"),  # ':=' and ':-': unset or empty
        ("${EMPTY:-blue}", "blue"),
        ("${EMPTY=blue}", ""),  # '=' and '-': unset only
        ("${EMPTY-blue}", ""),
        ("${UNSET=blue}", "blue"),
        ("${UNSET:=}", ""),
        ("${UNSET:=a b:c}", "a b:c"),
        ("$${APP}", "${APP}"),  # the escape gives the literal
        ("$${APP} and ${APP}", "${APP} and web"),
        ("$APP", "$APP"),  # no braces: left alone, as Flux does
        ("cost: $5", "cost: $5"),
        ("${_under_1}", ""),
    ],
)
def test_substitute_text(text, expected):
    assert substitute_text(text, VARS, strict=False) == expected


def test_substituted_values_are_not_scanned_again():
    assert substitute_text("${A}", {"A": "${B}", "B": "no"}, strict=False) == "${B}"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("${1BAD}", "is not supported"),
        ("${APP/w/W}", "is not supported"),
        ("${APP:1:2}", "is not supported"),
        ("${#APP}", "is not supported"),
        ("${}", "is not supported"),
        ("${APP", "unterminated"),
    ],
)
def test_unsupported_expressions_are_errors(text, fragment):
    with pytest.raises(SubstitutionError, match=fragment):
        substitute_text(text, VARS, strict=False)


@pytest.mark.parametrize(
    ("text", "fails"),
    [
        ("${UNSET}", True),
        ("${UNSET:=d}", False),
        ("${UNSET-d}", False),
        ("${EMPTY}", False),  # set, though empty
        ("$${UNSET}", False),
    ],
)
def test_strict_fails_only_without_value_or_default(text, fails):
    if fails:
        with pytest.raises(SubstitutionError, match="UNSET have no value and no default"):
            substitute_text(text, VARS, strict=True)
    else:
        substitute_text(text, VARS, strict=True)


DOC = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${APP}
  namespace: ns
  annotations: {ANNOTATIONS}
spec:
  replicas: ${N}
  paused: ${PAUSED:=false}
  template:
    spec:
      containers:
        - name: c
          env:
            - name: PORT
              value: "${N}"
            - name: QUOTED
              value: '${APP}'
          args: |
            run ${APP}
            literal $${APP}
"""


def render(annotations: str = "{}", variables=VARS, *, strict=False):
    manifests = load_manifests(DOC.replace("{ANNOTATIONS}", annotations), "app.yaml")
    return substitute_manifests(manifests, variables, strict=strict)[0].obj


def test_unquoted_values_take_their_yaml_type_and_quoted_ones_stay_strings():
    obj = render()
    assert obj["metadata"]["name"] == "app-web"
    assert obj["spec"]["replicas"] == 3
    assert obj["spec"]["paused"] is False
    container = obj["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "PORT", "value": "3"}, {"name": "QUOTED", "value": "web"}]
    assert container["args"] == "run web\nliteral ${APP}\n"


@pytest.mark.parametrize(
    "annotation",
    ["gitops-operator.dev/substitute", "kustomize.toolkit.fluxcd.io/substitute"],
)
def test_an_object_annotated_disabled_is_left_alone(annotation):
    obj = render("{" + annotation + ": disabled}")
    assert obj["spec"]["replicas"] == "${N}"
    assert obj["metadata"]["name"] == "app-${APP}"


def test_strict_names_the_object_and_the_variables_never_the_values():
    with pytest.raises(SubstitutionError) as caught:
        render(variables={"N": "3"}, strict=True)
    message = caught.value.message
    assert "Deployment/ns/app-${APP} (from app.yaml)" in message
    assert "variable(s) APP have no value" in message


def test_an_unquoted_value_that_breaks_the_yaml_names_the_object_not_the_value():
    with pytest.raises(SubstitutionError) as caught:
        render(variables={**VARS, "N": "[s3cr3t-value"})
    assert "Deployment/ns/app-${APP}" in caught.value.message
    assert "no longer valid YAML" in caught.value.message
    assert "s3cr3t" not in caught.value.message


def test_an_unquoted_value_that_becomes_a_mapping_is_refused():
    with pytest.raises(SubstitutionError, match="became a mapping"):
        render(variables={**VARS, "N": "a: b"})


def test_a_name_emptied_by_substitution_is_refused():
    with pytest.raises(SubstitutionError, match="no kind or name"):
        load = load_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${X}\n", "f")
        substitute_manifests(load, {}, strict=False)


def test_objects_without_variables_are_returned_as_they_were():
    manifests = load_manifests("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", "f")
    assert substitute_manifests(manifests, VARS, strict=True)[0] is manifests[0]


def test_parse_post_build():
    spec = {
        "postBuild": {
            "substitute": {"APP": "web", "N": 3},
            "substituteFrom": [
                {"kind": "ConfigMap", "name": "vars"},
                {"kind": "Secret", "name": "creds", "optional": True},
            ],
            "strict": True,
        }
    }
    post_build = parse_post_build(spec)
    assert post_build.substitute == (("APP", "web"), ("N", "3"))
    assert [(s.kind, s.name, s.optional) for s in post_build.substitute_from] == [
        (SourceKind.CONFIG_MAP, "vars", False),
        (SourceKind.SECRET, "creds", True),
    ]
    assert post_build.strict and post_build.enabled
    assert not parse_post_build({}).enabled
    assert parse_post_build({}) == PostBuild()


@pytest.mark.parametrize(
    ("post_build", "fragment"),
    [
        ({"substitute": {"1X": "a"}}, "is not a variable name"),
        ({"substitute": {"A-B": "a"}}, "is not a variable name"),
        ({"substituteFrom": [{"kind": "Pod", "name": "x"}]}, "is not ConfigMap or Secret"),
        ({"substituteFrom": [{"kind": "Secret"}]}, "name is required"),
    ],
)
def test_parse_post_build_refuses(post_build, fragment):
    with pytest.raises(InvalidSpecError, match=fragment):
        parse_post_build({"postBuild": post_build})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("password is hunter22", "password is ***"),
        ({"a": ["x hunter22 y", 3]}, {"a": ["x *** y", 3]}),
        ("ab is too short to mask", "ab is too short to mask"),
        ("hunter222", "***"),  # the longest secret first
    ],
)
def test_mask_values(value, expected):
    assert mask_values(value, frozenset({"hunter22", "hunter222", "ab"})) == expected


def test_manifests_with_unsubstituted_variables_are_written_back_as_they_were_read():
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a-${X}\ndata:\n  n: ${N}\n"
    obj = load_manifests(text, "f")[0].obj
    assert yaml.safe_dump(obj, sort_keys=False) == text
    assert yaml.dump(obj, sort_keys=False) == text


def test_the_sources_an_application_names_are_tracked_in_its_namespace_only():
    index: dict = {}
    body = {
        "spec": {
            "postBuild": {
                "substituteFrom": [
                    {"kind": "ConfigMap", "name": "vars"},
                    {"kind": "Secret", "name": "creds", "optional": True},
                    {"kind": "Pod", "name": "ignored"},
                ]
            }
        }
    }
    track_substitute_sources(index, ("team-a", "app"), body)
    track_substitute_sources(index, ("team-b", "app"), body)
    assert index[("ConfigMap", "team-a", "vars")] == {("team-a", "app")}
    assert index[("Secret", "team-b", "creds")] == {("team-b", "app")}
    assert len(index) == 4
    track_substitute_sources(index, ("team-a", "app"), {"spec": {}})  # postBuild removed
    track_substitute_sources(index, ("team-b", "app"), None)  # deleted
    assert index == {}
