from gitops_operator.conditions import (
    ConditionType,
    apply_updates,
    failed,
    get_condition,
    ready,
)


def test_transition_time_moves_only_when_status_changes():
    conds = apply_updates([], ready("Applied revision: a"), generation=1, now="t1")
    conds = apply_updates(conds, ready("Applied revision: b"), generation=2, now="t2")
    cond = get_condition(conds, ConditionType.READY)
    assert cond is not None
    assert (cond["lastTransitionTime"], cond["message"]) == ("t1", "Applied revision: b")
    conds = apply_updates(
        conds, failed("GitOperationFailed", "down", stalled=False), generation=2, now="t3"
    )
    assert get_condition(conds, ConditionType.READY)["lastTransitionTime"] == "t3"


def test_stalled_is_set_for_user_errors_and_cleared_by_success():
    conds = apply_updates([], failed("InvalidSpec", "bad", stalled=True), generation=1, now="t")
    assert get_condition(conds, ConditionType.STALLED)["status"] == "True"
    conds = apply_updates(conds, ready("ok"), generation=2, now="t")
    assert get_condition(conds, ConditionType.STALLED) is None
    assert get_condition(conds, ConditionType.READY)["observedGeneration"] == 2


def test_a_long_message_keeps_its_beginning_and_end_within_the_bound():
    from gitops_operator.conditions import MAX_MESSAGE, clip

    api_error = (
        'Deployment.apps "web" is invalid: spec.template: ' + "x" * 6000 + ": field is immutable"
    )
    (cond,) = apply_updates(
        [], failed("ApplyFailed", api_error, stalled=False)[:1], generation=1, now="t"
    )
    assert len(cond["message"]) == MAX_MESSAGE
    assert cond["message"].startswith('Deployment.apps "web" is invalid: spec.template: ')
    assert cond["message"].endswith(": field is immutable")
    assert "[... cut ...]" in cond["message"]
    assert clip("short") == "short"
