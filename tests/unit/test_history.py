from gitops_operator.history import DEFAULT_LIMIT, record


def test_history_is_bounded_newest_first():
    history: list[dict[str, str]] = []
    for i in range(DEFAULT_LIMIT + 5):
        history = record(history, {"revision": f"r{i}", "result": "Succeeded"})
    assert len(history) == DEFAULT_LIMIT
    assert history[0]["revision"] == f"r{DEFAULT_LIMIT + 4}"


def test_a_repeat_of_the_newest_entry_replaces_it():
    history = record([], {"revision": "r1", "result": "Failed", "finishedAt": "t1"})
    history = record(history, {"revision": "r1", "result": "Failed", "finishedAt": "t2"})
    assert history == [{"revision": "r1", "result": "Failed", "finishedAt": "t2"}]
    history = record(history, {"revision": "r1", "result": "RolledBack"})
    assert [h["result"] for h in history] == ["RolledBack", "Failed"]
