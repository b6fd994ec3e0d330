"""Values a column cannot hold are dropped, never allowed to fail the write of their neighbours."""

from __future__ import annotations

import httpx
from tests.integration.api.builders import ingest_ok, observation, score_create, trace_create, uid, wait_trace


def test_out_of_range_values_do_not_cost_the_rest_of_the_request(client: httpx.Client) -> None:
    trace_id, wild, fine, score_id = uid(), uid()[:16], uid()[:16], uid()
    events = [
        trace_create(trace_id, name="extremes", timestamp="2599-01-01T00:00:00Z"),
        observation("generation-create", wild, trace_id, promptName="p", promptVersion=70_000,
                    usageDetails={"input": 2**64 - 1, "output": 3}, costDetails={"input": 5e9, "output": 0.5},
                    startTime="1700-01-01T00:00:00Z", model="m"),
        observation("span-create", fine, trace_id, name="fine"),
        score_create(score_id, "quality", 0.5, traceId=trace_id),
    ]
    ingest_ok(client, events)
    trace = wait_trace(client, trace_id, lambda t: len(t["observations"]) == 2 and len(t["scores"]) == 1)
    assert trace["timestamp"].startswith("2299-12-31")  # clamped to the column's range
    obs = {o["id"]: o for o in trace["observations"]}
    assert obs[fine]["name"] == "fine"
    generation = obs[wild]
    assert generation["startTime"].startswith("1900-01-01")
    assert generation["promptVersion"] is None
    assert generation["usageDetails"] == {"input": 2**64 - 1, "output": 3}  # the overflowing total is dropped
    assert generation["costDetails"] == {"output": 0.5}
    status = client.get("/api/public/status").json()
    assert status["queue"]["deadLetters"] == 0
