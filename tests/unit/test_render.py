import os

import pytest

from gitops_operator.api import RenderSpec
from gitops_operator.errors import RenderError
from gitops_operator.render import render

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "app" / "sub").mkdir(parents=True)
    (root / "app" / "a.yaml").write_text(CM.format(name="a"))
    (root / "app" / "sub" / "b.yml").write_text(CM.format(name="b"))
    (root / "app" / "README.md").write_text("# not a manifest")
    return root


def test_plain_directories_are_read_recursively_in_order(repo):
    names = [m.ref.name for m in render(repo, "app", RenderSpec())]
    assert names == ["a", "b"]


def test_include_and_exclude_globs(repo):
    assert [m.ref.name for m in render(repo, "app", RenderSpec(exclude=("sub/*",)))] == ["a"]
    assert [m.ref.name for m in render(repo, "app", RenderSpec(include=("sub/*",)))] == ["b"]


@pytest.mark.parametrize("path", ["../other", "/etc", "app/../../x"])
def test_paths_outside_the_checkout_are_refused(repo, path):
    with pytest.raises(RenderError) as err:
        render(repo, path, RenderSpec())
    assert err.value.reason == "PathOutsideRepository"


def test_symlink_leaving_the_checkout_is_refused_before_reading(repo, tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text(CM.format(name="leak"))
    os.symlink(secret, repo / "app" / "leak.yaml")
    with pytest.raises(RenderError, match="points outside") as err:
        render(repo, "app", RenderSpec())
    assert "ConfigMap" not in str(err.value), "the target's content is never echoed"


def test_duplicate_objects_are_refused(repo):
    (repo / "app" / "c.yaml").write_text(CM.format(name="a"))
    with pytest.raises(RenderError, match="more than once"):
        render(repo, "app", RenderSpec())


def test_missing_path_is_a_clear_error(repo):
    with pytest.raises(RenderError, match="not a directory"):
        render(repo, "nope", RenderSpec())
