"""``gitops-operator diff --base``: two revisions of a real Git checkout rendered offline
with the pinned kustomize and helm, compared object by object. No cluster is used."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gitops_operator.cli import main
from gitops_operator.config import Settings

from .support import ROOT

EXAMPLES = ROOT / "examples"


def needs(binary: str) -> None:
    if not Path(binary).is_file():
        pytest.skip(f"pinned {Path(binary).name} not found at {binary!r} (hack/build-binaries.sh)")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


class Checkout:
    """A local repository to commit to and diff in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")

    def write(self, files: dict[str, str | None]) -> None:
        for rel, text in files.items():
            target = self.path / rel
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)

    def edit(self, rel: str, old: str, new: str) -> None:
        text = (self.path / rel).read_text()
        assert old in text, f"{old!r} not in {rel}"
        (self.path / rel).write_text(text.replace(old, new))

    def commit(self, message: str = "change") -> str:
        git(self.path, "add", "-A")
        git(
            self.path,
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "commit",
            "-qm",
            message,
        )
        return git(self.path, "rev-parse", "HEAD")


@pytest.fixture
def checkout(tmp_path) -> Checkout:
    return Checkout(tmp_path / "repo")


@pytest.fixture
def examples(checkout) -> Checkout:
    """The examples directory as a repository of its own, committed once."""
    shutil.copytree(EXAMPLES, checkout.path, dirs_exist_ok=True)
    checkout.commit("examples")
    return checkout


def diff(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["diff", "-n", "default", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def as_json(capsys, *argv: str) -> tuple[int, dict]:
    code, out, _ = diff(capsys, *argv, "-o", "json")
    return code, json.loads(out)


def objects(report: dict) -> dict[str, dict]:
    return {f"{o['kind']}/{o['name']}": o for o in report["objects"]}


CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: v}}\n"


# -- plain -----------------------------------------------------------------------------------


def test_plain_image_change_and_added_and_removed_objects(examples, capsys):
    base = examples.path / "plain"
    examples.edit("plain/deployment.yaml", "podinfo:6.7.1", "podinfo:6.7.2")
    examples.write({"plain/extra.yaml": CONFIG_MAP.format(name="extra")})
    examples.write({"plain/config.yaml": None})
    head = examples.commit()
    code, report = as_json(capsys, "--base", "HEAD~1", "--head", head, str(base))
    assert code == 1
    found = objects(report)
    assert set(found) == {"Deployment/podinfo", "ConfigMap/extra", "ConfigMap/podinfo-config"}
    assert found["ConfigMap/extra"]["change"] == "added"
    assert found["ConfigMap/podinfo-config"]["change"] == "removed"
    deployment = found["Deployment/podinfo"]
    assert deployment["change"] == "changed" and deployment["namespace"] == "podinfo"
    assert deployment["fields"] == [
        {
            "path": "spec.template.spec.containers[0].image",
            "pointer": "/spec/template/spec/containers/0/image",
            "base": "ghcr.io/stefanprodan/podinfo:6.7.1",
            "head": "ghcr.io/stefanprodan/podinfo:6.7.2",
        }
    ]
    assert report["summary"] == {"added": 1, "removed": 1, "changed": 1}
    assert report["base"]["sha"] == git(examples.path, "rev-parse", "HEAD~1")


def test_the_working_tree_is_the_default_head_and_stays_as_it_was(examples, capsys):
    examples.edit("plain/deployment.yaml", "replicas: 2", "replicas: 3")
    (examples.path / "plain" / "new.yaml").write_text(CONFIG_MAP.format(name="untracked"))
    status_before = git(examples.path, "status", "--porcelain")
    code, out, _ = diff(capsys, "--base", "main", str(examples.path / "plain"))
    assert code == 1
    assert "~ apps/v1 Deployment podinfo/podinfo (changed)" in out
    assert "    spec.replicas\n      base: 2\n      head: 3\n" in out
    assert "+ v1 ConfigMap default/untracked (added)" in out
    assert git(examples.path, "status", "--porcelain") == status_before
    assert git(examples.path, "rev-parse", "--abbrev-ref", "HEAD") == "main"


def test_no_change_and_noise_exit_0(examples, capsys):
    # the same objects, moved to another file, keys reordered, and a status added
    text = (examples.path / "plain" / "deployment.yaml").read_text()
    moved = [{**doc, "status": {"observedGeneration": 9}} for doc in yaml.safe_load_all(text)]
    examples.write(
        {
            "plain/deployment.yaml": None,
            "plain/moved/podinfo.yaml": yaml.safe_dump_all(moved[::-1], sort_keys=True),
        }
    )
    examples.commit("move")
    code, out, _ = diff(capsys, "--base", "HEAD~1", "--head", "HEAD", str(examples.path / "plain"))
    assert code == 0, out
    assert out.endswith("no differences\n")


def test_a_secret_change_shows_which_key_changed_never_a_value(checkout, capsys):
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{{data}}}\n"
    checkout.write({"app/secret.yaml": secret.format(data="user: admin, password: s3cr3t-old")})
    checkout.commit()
    checkout.write(
        {"app/secret.yaml": secret.format(data="user: admin, password: s3cr3t-new, token: t0k3n")}
    )
    checkout.commit()
    app = str(checkout.path / "app")
    code, report = as_json(capsys, "--base", "HEAD~1", "--head", "HEAD", app)
    assert code == 1
    [changed] = report["objects"]
    assert [(f["path"], f["base"], f["head"]) for f in changed["fields"]] == [
        ("stringData.password", "***", "*** (changed)"),
        ("stringData.token", None, "***"),
    ]
    for output in ("table", "json", "yaml", "markdown"):
        _, out, err = diff(capsys, "--base", "HEAD~1", "--head", "HEAD", app, "-o", output)
        for value in ("admin", "s3cr3t", "t0k3n"):
            assert value not in out + err, f"{value} in -o {output}"


def test_a_render_error_in_head_exits_2_and_says_which_revision_and_why(examples, capsys):
    examples.write({"plain/broken.yaml": "kind: ConfigMap\nmetadata: {name: x}\n"})
    examples.commit("broken")
    plain = str(examples.path / "plain")
    code, out, err = diff(capsys, "--base", "HEAD~1", "--head", "HEAD", plain)
    assert code == 2 and out == ""
    assert err.startswith("error: plain: the head revision, HEAD (")
    assert "plain/broken.yaml" in err and "apiVersion and kind required" in err
    assert err.count("\n") == 1
    code, out, _ = diff(capsys, "--base", "HEAD~1", "--head", "HEAD", plain, "-o", "markdown")
    assert code == 2
    assert "**The head revision, HEAD (" in out and "apiVersion and kind required" in out


def test_an_unknown_revision_is_an_error(examples, capsys):
    code, _, err = diff(capsys, "--base", "no-such-branch", str(examples.path / "plain"))
    assert code == 2 and "'no-such-branch' is not a commit" in err


def test_a_path_new_in_head_is_all_added(examples, capsys):
    examples.write({"fresh/cm.yaml": CONFIG_MAP.format(name="fresh")})
    examples.commit()
    code, report = as_json(
        capsys, "--base", "HEAD~1", "--head", "HEAD", str(examples.path / "fresh")
    )
    assert code == 1 and report["summary"] == {"added": 1, "removed": 0, "changed": 0}
    assert report["notes"] == ["fresh does not exist in the base revision"]


# -- kustomize -------------------------------------------------------------------------------


def test_kustomize_image_and_generated_config_map_changes(examples, capsys):
    needs(Settings().kustomize_binary)
    overlay = "kustomize/overlays/staging"
    examples.edit(
        f"{overlay}/kustomization.yaml",
        "patches:",
        "images:\n  - name: ghcr.io/stefanprodan/podinfo\n    newTag: 6.8.0\npatches:",
    )
    examples.edit(f"{overlay}/podinfo.env", "hello from staging", "hello from the PR")
    examples.commit()
    code, report = as_json(
        capsys, "--base", "HEAD~1", "--head", "HEAD", str(examples.path / overlay)
    )
    assert code == 1
    found = objects(report)
    deployment = found.pop("Deployment/podinfo")
    fields = {f["path"]: (f["base"], f["head"]) for f in deployment["fields"]}
    image = fields.pop("spec.template.spec.containers[0].image")
    assert image == ("ghcr.io/stefanprodan/podinfo:6.7.1", "ghcr.io/stefanprodan/podinfo:6.8.0")
    # the generated ConfigMap's name carries a hash of its data: a new one replaces the old
    [(ref_path, (old_name, new_name))] = fields.items()
    assert ref_path.endswith("configMapRef.name") and old_name != new_name
    assert {name: o["change"] for name, o in found.items()} == {
        f"ConfigMap/{old_name}": "removed",
        f"ConfigMap/{new_name}": "added",
    }


def test_kustomize_build_error_is_shown_with_kustomizes_message(examples, capsys):
    needs(Settings().kustomize_binary)
    overlay = "kustomize/overlays/staging"
    examples.edit(f"{overlay}/kustomization.yaml", "- namespace.yaml", "- missing.yaml")
    code, _, err = diff(capsys, "--base", "HEAD", str(examples.path / overlay))
    assert code == 2
    assert "the head revision, the working tree, does not render" in err
    assert "missing.yaml" in err


# -- helm, and an Application manifest -------------------------------------------------------


def test_helm_values_change_through_the_application_manifest(examples, capsys):
    needs(Settings().helm_binary)
    # the PR changes a value file and the Application (one more replica, a new value file)
    examples.edit("helm/podinfo/values.yaml", 'tag: "6.7.1"', 'tag: "6.8.0"')
    examples.write({"helm/podinfo/values-pr.yaml": "replicaCount: 4\n"})
    examples.edit(
        "application-helm.yaml",
        "valueFiles: [values-production.yaml]",
        "valueFiles: [values-production.yaml, values-pr.yaml]",
    )
    examples.commit()
    app = str(examples.path / "application-helm.yaml")
    code, report = as_json(capsys, "--base", "HEAD~1", "--head", "HEAD", "--app", app)
    assert code == 1
    assert report["subject"] == "Application default/podinfo-production (helm/podinfo)"
    [deployment] = report["objects"]
    assert (deployment["kind"], deployment["namespace"], deployment["name"]) == (
        "Deployment",
        "podinfo-production",  # targetNamespace
        "podinfo",  # releaseName
    )
    fields = {f["path"]: (f["base"], f["head"]) for f in deployment["fields"]}
    assert fields == {
        # inline values win over value files: replicaCount stays 2
        "spec.template.spec.containers[0].image": (
            "ghcr.io/stefanprodan/podinfo:6.7.1",
            "ghcr.io/stefanprodan/podinfo:6.8.0",
        ),
    }


def test_helm_directory_with_flags_and_an_added_object(examples, capsys):
    needs(Settings().helm_binary)
    chart = examples.path / "helm" / "podinfo"
    examples.write(
        {
            "helm/podinfo/templates/account.yaml": (
                "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}\n"
            )
        }
    )
    argv = ["--base", "main", str(chart), "--release-name", "shop", "--kube-version", "1.31.0"]
    code, out, err = diff(capsys, *argv, "--values-file", str(chart / "values-production.yaml"))
    assert code == 1
    assert out.splitlines()[1:] == [
        "1 object differs: 1 added",
        "+ v1 ServiceAccount default/shop (added)",
    ]
    assert "note: rendering offline" in err


def test_markdown_is_a_pull_request_comment(examples, capsys):
    examples.edit("plain/deployment.yaml", "podinfo:6.7.1", "podinfo:6.7.2")
    examples.write({"plain/extra.yaml": CONFIG_MAP.format(name="extra"), "plain/config.yaml": None})
    code, out, _ = diff(capsys, "--base", "main", str(examples.path / "plain"), "-o", "markdown")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "### gitops-operator diff: plain"
    assert lines[2].startswith("`main (") and lines[2].endswith(")` → `the working tree`")
    assert "**3 objects differ: 1 added, 1 removed, 1 changed**" in lines
    start = lines.index("| | Object | API version | Fields changed |")
    assert lines[start + 1 : start + 5] == [
        "| --- | --- | --- | --- |",
        "| + added | `ConfigMap default/extra` | `v1` |  |",
        "| - removed | `ConfigMap podinfo/podinfo-config` | `v1` |  |",
        "| ~ changed | `Deployment podinfo/podinfo` | `apps/v1` | 1 |",
    ]
    assert out.count("<details>") == out.count("</details>") == 3
    changed = out[out.index("<summary>~ <code>Deployment podinfo/podinfo</code> (1 field)") :]
    assert changed.split("```diff\n", 1)[1].startswith(
        "@@ spec.template.spec.containers[0].image @@\n"
        '- "ghcr.io/stefanprodan/podinfo:6.7.1"\n'
        '+ "ghcr.io/stefanprodan/podinfo:6.7.2"\n```'
    )
    added = out[out.index("<summary>+ <code>ConfigMap default/extra</code> (added)") :]
    assert "+ kind: ConfigMap\n" in added
