"""The CLI without a cluster: argument parsing, tables, JSON/YAML, and offline render."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from gitops_operator.api import RenderSpec
from gitops_operator.cli import build_parser, main
from gitops_operator.cli import inspect as cli_inspect
from gitops_operator.cli import render as cli_render
from gitops_operator.cli.cluster import default_namespace
from gitops_operator.cli.output import (
    OutputFormat,
    dump,
    format_fields,
    format_table,
    short_revision,
)
from gitops_operator.config import Settings
from gitops_operator.diff_report import Revision, RevisionDiff, as_markdown
from gitops_operator.objects import Manifest
from gitops_operator.render import RenderTools, render
from gitops_operator.render_diff import compare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SHA = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d"
REV = f"main@sha1:{SHA}"
TOOLS = RenderTools.from_settings(Settings.from_env())


def needs(binary: str) -> None:
    if not Path(binary).is_file():
        pytest.skip(f"pinned {Path(binary).name} not found at {binary!r}")


# -- output --------------------------------------------------------------------------------


def test_tables_align_columns_and_cut_long_cells():
    text = format_table(["NAME", "READY"], [["a", "True"], ["longer-name", None], ["c", "x" * 200]])
    lines = text.splitlines()
    assert lines[0] == "NAME          READY"
    assert lines[1] == "a             True"
    assert lines[2] == "longer-name"
    assert lines[3].endswith("…") and len(lines[3]) == 14 + 80


def test_fields_are_aligned_like_describe():
    assert format_fields([("Name", "app"), ("Last good", None)]) == "Name:      app\nLast good:\n"


def test_json_and_yaml_keep_the_data():
    data = [{"name": "app", "nested": {"n": 1, "list": ["x"]}}]
    assert json.loads(dump(data, OutputFormat.JSON)) == data
    assert yaml.safe_load(dump(data, OutputFormat.YAML)) == data


@pytest.mark.parametrize(
    ("revision", "short"),
    [(REV, "main@sha1:0c1d2e3f4a5b"), (f"sha1:{SHA}", "sha1:0c1d2e3f4a5b"), ("", "")],
)
def test_revisions_are_shortened_for_tables(revision, short):
    assert short_revision(revision) == short


# -- arguments -----------------------------------------------------------------------------


def test_common_options_and_defaults():
    args = build_parser().parse_args(["status"])
    assert (args.output, args.namespace, args.kubeconfig, args.app) == ("table", None, None, None)
    args = build_parser().parse_args(["history", "app", "-n", "team", "-o", "json"])
    assert (args.app, args.namespace, args.output) == ("app", "team", "json")


def test_waiting_commands_wait_five_minutes_by_default():
    args = build_parser().parse_args(["sync", "app"])
    assert args.wait is True and args.timeout == 300
    args = build_parser().parse_args(["retry", "app", "--no-wait", "--timeout", "90s"])
    assert args.wait is False and args.timeout == 90
    assert build_parser().parse_args(["sync", "app", "--timeout", "60"]).timeout == 60


def test_rollback_needs_a_revision(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["rollback", "app"])
    assert exc.value.code == 2 and "--to" in capsys.readouterr().err
    assert build_parser().parse_args(["rollback", "app", "--to", SHA[:8]]).to == SHA[:8]


def test_a_bad_timeout_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sync", "app", "--timeout", "soon"])
    assert "not a duration" in capsys.readouterr().err


def test_render_prints_yaml_and_diagram_writes_a_file_by_default():
    render_args = build_parser().parse_args(
        ["render", "dir", "--values-file", "a", "--values-file", "b"]
    )
    assert render_args.output == "yaml" and render_args.values_file == ["a", "b"]
    assert build_parser().parse_args(["diagram", "app"]).file is None
    assert build_parser().parse_args(["diagram", "app", "-o", "x.svg"]).file == "x.svg"


def test_the_run_command_keeps_its_own_arguments():
    args = build_parser().parse_args(["run", "--namespace", "a", "--namespace", "b"])
    assert args.command == "run" and args.namespace == ["a", "b"]


def test_the_namespace_defaults_to_the_kubeconfig_context(tmp_path, monkeypatch):
    config = {
        "current-context": "work",
        "contexts": [
            {"name": "home", "context": {"namespace": "home-ns"}},
            {"name": "work", "context": {"cluster": "c", "namespace": "team-a"}},
        ],
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert default_namespace(str(path)) == "team-a"
    other = tmp_path / "other"
    other.write_text(yaml.safe_dump({"current-context": "home"}))
    monkeypatch.setenv("KUBECONFIG", f"{other}:{path}")
    assert default_namespace(None) == "home-ns", "the first file to set current-context wins"
    config["contexts"][1]["context"].pop("namespace")
    path.write_text(yaml.safe_dump(config))
    assert default_namespace(str(path)) == "default"
    assert default_namespace(str(tmp_path / "missing")) == "default"


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    code = main(["status", "--kubeconfig", str(tmp_path / "missing")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert "Traceback" not in err


# -- render --------------------------------------------------------------------------------


def expected(path: str, *, release_name: str, namespace: str = "default") -> list[dict]:
    # the examples directory as the repository: the same files, without the project's .venv
    manifests = render(
        EXAMPLES, path, RenderSpec(), tools=TOOLS, release_name=release_name, namespace=namespace
    )
    return [m.obj for m in manifests]


@pytest.mark.parametrize(
    ("path", "tool"),
    [("plain", None), ("kustomize/overlays/staging", "kustomize"), ("helm/podinfo", "helm")],
)
def test_render_prints_what_the_operator_renders(path, tool, capsys):
    if tool:
        needs(getattr(TOOLS, tool))
    # From inside this project's repository: its root (with .venv's symlinks) is the root.
    assert main(["render", str(EXAMPLES / path), "-n", "default"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("---\n")
    documents = list(yaml.safe_load_all(out))
    assert documents and documents == expected(path, release_name=Path(path).name)


def test_render_as_json_is_a_list_and_as_table_names_objects(capsys):
    assert main(["render", str(EXAMPLES / "plain"), "-n", "x", "-o", "json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["kind"] == "List" and listing["items"] == expected("plain", release_name="plain")
    assert main(["render", str(EXAMPLES / "plain"), "-o", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "NAMESPACE", "NAME", "SOURCE"]
    assert any(line.split()[:3] == ["Deployment", "podinfo", "podinfo"] for line in lines)


def test_render_uses_helm_options(capsys):
    needs(TOOLS.helm)
    chart = EXAMPLES / "helm" / "podinfo"
    argv = ["render", str(chart), "-n", "prod", "--release-name", "shop"]
    assert main([*argv, "--values-file", str(chart / "values-production.yaml")]) == 0
    objects = list(yaml.safe_load_all(capsys.readouterr().out))
    assert {o["metadata"]["namespace"] for o in objects} == {"prod"}
    assert {o["metadata"]["labels"]["app.kubernetes.io/instance"] for o in objects} == {"shop"}
    config = next(o for o in objects if o["kind"] == "ConfigMap")
    assert config["data"]["PODINFO_UI_MESSAGE"] == "hello from production"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_render_reads_what_git_would_commit(tmp_path, capsys):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {}}}\n"
    app = tmp_path / "repo" / "app"
    app.mkdir(parents=True)
    git(tmp_path / "repo", "init", "-q")
    (tmp_path / "repo" / ".gitignore").write_text("generated.yaml\n")
    (app / "tracked.yaml").write_text(cm.format("tracked"))
    git(tmp_path / "repo", "add", "-A")
    (app / "untracked.yaml").write_text(cm.format("untracked"))
    (app / "generated.yaml").write_text(cm.format("generated"))
    assert main(["render", str(app), "-n", "default", "-o", "json"]) == 0
    names = [o["metadata"]["name"] for o in json.loads(capsys.readouterr().out)["items"]]
    assert names == ["tracked", "untracked"]


def test_render_outside_a_repository_reads_the_directory(tmp_path, capsys):
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    assert main(["render", str(tmp_path), "-n", "default"]) == 0
    assert [d["metadata"]["name"] for d in yaml.safe_load_all(capsys.readouterr().out)] == ["a"]


def test_render_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("kind: ConfigMap\n")
    assert main(["render", str(tmp_path), "-n", "default"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.yaml" in err and err.count("\n") == 1
    assert main(["render", str(tmp_path / "missing"), "-n", "default"]) == 2
    assert "not a directory" in capsys.readouterr().err


# -- status, history, diff and rollback data -----------------------------------------------


APP = {
    "metadata": {"name": "app", "namespace": "team"},
    "spec": {"sourceRef": {"name": "repo"}, "path": "deploy"},
    "status": {
        "sync": "Synced",
        "health": "Healthy",
        "lastAppliedRevision": REV,
        "lastGoodRevision": REV,
        "conditions": [{"type": "Ready", "status": "True", "message": f"Applied revision: {REV}"}],
        "inventory": {"entries": [{"id": "team_a__ConfigMap", "v": "v1"}]},
        "drift": [
            {
                "object": "ConfigMap/team/a",
                "fields": [{"path": "/data/x", "desired": '"1"', "live": '"2"'}],
            }
        ],
        "history": [
            {
                "revision": REV,
                "result": "Succeeded",
                "startedAt": "2024-05-01T10:00:00Z",
                "finishedAt": "2024-05-01T10:00:05Z",
                "changes": {"created": 2, "configured": 1},
            }
        ],
    },
}


def test_the_applications_table():
    text = cli_inspect.applications_table([cli_inspect.application_row(APP)])
    header, row = text.splitlines()
    assert header.split() == ["NAME", "SOURCE", "REVISION", "SYNC", "HEALTH", "READY", "MESSAGE"]
    assert row.split()[:6] == ["app", "repo", "main@sha1:0c1d2e3f4a5b", "Synced", "Healthy", "True"]
    with_ns = cli_inspect.applications_table(
        [cli_inspect.application_row(APP)], with_namespace=True
    )
    assert with_ns.splitlines()[1].startswith("team ")


def test_the_details_of_one_application():
    details = cli_inspect.application_details(APP)
    assert details["inventory"] == 1 and details["lastGoodRevision"] == REV
    text = cli_inspect.details_table(details)
    assert "Inventory:" in text and "1 objects" in text
    assert '/data/x: desired "1", live "2"' in text
    assert "Conditions:" in text


def test_the_history_table():
    header, row = cli_inspect.history_table(APP["status"]["history"]).splitlines()
    assert header.startswith("REVISION") and "ROLLED BACK TO" in header
    assert "Succeeded" in row and "2 created, 1 configured" in row


def test_the_diff_report_marks_changes_creations_and_prunes():
    report = {
        "application": "team/app",
        "revision": REV,
        "objects": [
            {
                "object": "ConfigMap/team/a",
                "action": "update",
                "fields": [{"path": "/data/x", "desired": "1", "live": None}],
            },
            {"object": "Deployment/team/web", "action": "create", "fields": []},
            {"object": "Service/team/old", "action": "prune", "fields": []},
        ],
    }
    text = cli_render.diff_text(report)
    assert '~ ConfigMap/team/a\n    /data/x\n      desired: "1"\n      live:    <none>' in text
    assert "+ Deployment/team/web (to be created)" in text
    assert "- Service/team/old (to be pruned)" in text
    assert "no differences" in cli_render.diff_text({**report, "objects": []})


def test_the_history_table_keeps_a_rollbacks_own_changes_apart():
    entry = {
        "revision": REV,
        "result": "RolledBack",
        "rolledBackTo": REV,
        "changes": {"configured": 1, "created": 1},
        "rollbackChanges": {"configured": 1, "deleted": 1},
    }
    row = cli_inspect.history_table([entry]).splitlines()[1]
    assert "1 configured, 1 created; rollback: 1 configured, 1 deleted" in row


def test_a_failed_re_apply_of_the_last_good_revision_is_not_shown_as_quarantined():
    status = {**APP["status"], "failedRevision": REV, "failedGeneration": 4}
    text = cli_inspect.details_table(cli_inspect.application_details({**APP, "status": status}))
    [line] = [line for line in text.splitlines() if "Failed revision" in line]
    assert "(quarantined)" not in line
    assert f"{REV}: the last good revision, but applying it again at generation 4 failed" in line
    other = {**APP["status"], "failedRevision": "main@sha1:" + "b" * 40}
    text = cli_inspect.details_table(cli_inspect.application_details({**APP, "status": other}))
    assert f"main@sha1:{'b' * 40} (quarantined)" in text


# -- diff --base: offline, two revisions -------------------------------------------------


def test_revision_flags_need_base_and_markdown_is_only_for_diff(capsys):
    assert main(["diff", "app", "--head", "HEAD", "-n", "x"]) == 2
    assert "--head: only with --base" in capsys.readouterr().err
    assert main(["diff", "-n", "x"]) == 2
    assert "give --base" in capsys.readouterr().err
    assert build_parser().parse_args(["diff", "--base", "main", "-o", "markdown"]).target is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["status", "-o", "markdown"])


def test_markdown_stays_under_the_comment_limit():
    many = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"c-{i}"},
            "data": {"k": "v" * 100},
        }
        for i in range(50)
    ]
    diffs = tuple(compare([], [Manifest(o, "many.yaml") for o in many]))
    report = RevisionDiff(Revision("main", "f" * 40), Revision(""), "apps", diffs)
    text = as_markdown(report, limit=5_000)
    assert len(text) < 5_000 + 300
    assert text.count("| + added |") == 50, "the table lists every object"
    shown = text.count("<details>")
    assert 0 < shown < 50
    assert f"{50 - shown} more object diffs are not shown" in text
    assert as_markdown(report).count("<details>") == 50


def test_markdown_diffs_a_multi_line_value_line_by_line():
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nginx"}}
    old = {**config, "data": {"nginx.conf": "worker 1;\nlisten 80;\nroot /srv;\n"}}
    new = {**config, "data": {"nginx.conf": "worker 1;\nlisten 8080;\nroot /srv;\n"}}
    diffs = compare([Manifest(old, "a.yaml")], [Manifest(new, "a.yaml")])
    text = as_markdown(RevisionDiff(Revision("main", "f" * 40), Revision(""), "web", tuple(diffs)))
    block = text.split("```diff\n", 1)[1].split("\n```", 1)[0]
    assert block.splitlines() == [
        '@@ data["nginx.conf"] @@',
        "@@ -1,3 +1,3 @@",
        "  worker 1;",
        "- listen 80;",
        "+ listen 8080;",
        "  root /srv;",
    ]


def test_the_details_say_what_an_application_waits_for_and_its_wave():
    app = {
        **APP,
        "status": {
            **APP["status"],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "DependencyNotReady",
                    "message": "waiting for Application team/db to be Ready",
                }
            ],
            "syncWave": {"revision": REV, "wave": 1, "appliedAt": "t", "remaining": 2},
        },
    }
    deps = [
        {"name": "team/db", "ready": "False", "reason": "Progressing", "message": ""},
        {"name": "team/cache", "ready": "True", "reason": "", "message": ""},
        {"name": "infra/dns", "ready": "missing", "reason": "", "message": ""},
    ]
    text = cli_inspect.details_table(cli_inspect.application_details(app, deps))
    assert "team/db (not Ready: Progressing), team/cache (Ready), infra/dns (not found)" in text
    assert "Waiting for:" in text and "waiting for Application team/db to be Ready" in text
    assert "wave 1 of main@sha1:" in text and "2 wave(s) after it" in text
    plain = cli_inspect.details_table(cli_inspect.application_details(APP))
    assert "Waiting for" not in plain and "none in progress" in plain


def test_status_shows_the_hooks_of_the_revision_with_their_phase():
    status = {
        "hooks": {
            "revision": "main@sha1:" + "a" * 40,
            "items": [
                {"hook": "PreSync", "kind": "Job", "name": "migrate", "phase": "Succeeded"},
                {
                    "hook": "PostSync",
                    "kind": "Job",
                    "name": "smoke",
                    "phase": "Failed",
                    "message": "BackoffLimitExceeded",
                },
                {"hook": "SyncFail", "kind": "Job", "name": "notify", "phase": "Running"},
            ],
        }
    }
    text = cli_inspect.details_table(cli_inspect.application_details({**APP, "status": status}))
    assert "Hooks:" in text
    assert "3 of main@sha1:aaaaa" in text and "1 Failed, 1 Running, 1 Succeeded" in text
    rows = text.split("\nHooks:\n")[1].splitlines()
    assert rows[0].split() == ["HOOK", "OBJECT", "PHASE", "MESSAGE"]
    assert rows[2].split() == ["PostSync", "Job/smoke", "Failed", "BackoffLimitExceeded"]
    assert rows[3].split()[:3] == ["SyncFail", "Job/notify", "Running"]
    plain = cli_inspect.details_table(cli_inspect.application_details(APP))
    assert "Hooks:" in plain and "\nHooks:\n" not in plain  # the field says none, no table
