from spyglass.domain.merge import merge, new_record


def test_trace_merge_follows_langfuse_upsert_rules():
    first = new_record("trace", {"id": "t", "project_id": "p", "timestamp": 2_000, "name": "a", "tags": ["b", "a"],
                                 "metadata": {"x": "1"}, "input": "in", "environment": "prod"}, now_us=10)
    second = merge("trace", first, {"id": "t", "project_id": "p", "timestamp": 1_000, "name": "b", "tags": ["c", "a"],
                                    "metadata": {"y": "2"}, "input": None, "environment": "dev", "user_id": None},
                   now_us=20)
    assert second["name"] == "b"
    assert second["tags"] == ["a", "b", "c"]
    assert second["metadata"] == {"x": "1", "y": "2"}
    assert second["input"] == "in"  # a null input never erases
    assert second["environment"] == "prod"  # immutable after the first write
    assert second["timestamp"] == 1_000  # earliest start wins
    assert (second["created_at"], second["updated_at"]) == (10, 20)
    assert first["name"] == "a"  # the input record is not modified


def test_explicit_null_overwrites_other_fields():
    first = new_record("trace", {"id": "t", "project_id": "p", "timestamp": 1, "user_id": "u"}, now_us=1)
    assert merge("trace", first, {"id": "t", "project_id": "p", "user_id": None}, now_us=2)["user_id"] is None


def test_public_sticks_once_set():
    first = new_record("trace", {"id": "t", "project_id": "p", "timestamp": 1, "public": True}, now_us=1)
    assert merge("trace", first, {"id": "t", "project_id": "p", "public": False}, now_us=2)["public"] is True


def test_observation_usage_total_and_cost_total_are_derived():
    record = new_record("observation", {"id": "o", "project_id": "p", "trace_id": "t", "start_time": 5,
                                        "provided_usage_details": {"prompt_tokens": 10, "completion_tokens": 20},
                                        "provided_cost_details": {"input": 1.5, "output": 2.0}}, now_us=1)
    assert record["usage_details"] == {"prompt_tokens": 10, "completion_tokens": 20, "total": 30}
    assert record["cost_details"] == {"input": 1.5, "output": 2.0, "total": 3.5}
    assert record["total_cost"] == 3.5


def test_empty_usage_update_keeps_provided_usage_and_end_is_clamped():
    record = new_record("observation", {"id": "o", "project_id": "p", "trace_id": "t", "start_time": 100,
                                        "provided_usage_details": {"input": 3}}, now_us=1)
    updated = merge("observation", record, {"id": "o", "project_id": "p", "provided_usage_details": {},
                                            "end_time": 50, "trace_id": "other", "start_time": 1}, now_us=2)
    assert updated["usage_details"] == {"input": 3, "total": 3}
    assert updated["end_time"] == 100
    assert (updated["trace_id"], updated["start_time"]) == ("t", 100)


def test_fallbacks_fill_only_what_no_event_has_set():
    child = new_record("trace", {"id": "t", "project_id": "p", "timestamp": 5, "name": "explicit",
                                 "input": '{"k": 1}'}, now_us=1)
    root = {"id": "t", "project_id": "p", "timestamp": 1, "fill": {"name": "root-span", "input": "root-in",
                                                                     "output": "root-out"}}
    merged = merge("trace", child, root, now_us=2)
    assert (merged["name"], merged["input"], merged["output"]) == ("explicit", '{"k": 1}', "root-out")
    alone = new_record("trace", root, now_us=1)
    assert (alone["name"], alone["input"]) == ("root-span", "root-in")
