"""The operator process's log lines."""

import logging

from gitops_operator.runner import ObjectLineFormatter


def line(**extra: object) -> str:
    record = logging.LogRecord(
        "kopf.objects", logging.INFO, __file__, 1, "applied %s", ("x",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return ObjectLineFormatter().format(record)


def test_a_line_about_one_resource_names_it() -> None:
    ref = {"kind": "Application", "namespace": "team", "name": "web"}
    text = line(k8s_ref=ref)
    assert "level=INFO logger=kopf.objects object=Application/team/web applied x" in text


def test_other_lines_name_no_object() -> None:
    assert "object=" not in line()
    assert line().endswith("logger=kopf.objects applied x")
