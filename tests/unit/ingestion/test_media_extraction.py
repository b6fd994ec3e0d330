"""The worker's media step: inline base64 in merged records becomes media files plus references."""

from __future__ import annotations

import base64

import orjson

from spyglass.domain.media import InlineUse, sha256_base64
from spyglass.domain.merge import new_record
from spyglass.domain.records import Record
from spyglass.ingestion.media_extraction import MediaExtractor

PNG = b"\x89PNG\r\n\x1a\n fake png body"
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt fake wav"


def data_uri(content_type: str, data: bytes) -> str:
    return f"data:{content_type};base64,{base64.b64encode(data).decode()}"


def reference(content_type: str, data: bytes) -> str:
    media_id = sha256_base64(data).replace("+", "-").replace("/", "_")[:22]
    return f"@@@langfuseMedia:type={content_type}|id={media_id}|source=base64_data_uri@@@"


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[InlineUse]]] = []

    def __call__(self, project_id: str, uses: list[InlineUse]) -> None:
        self.calls.append((project_id, uses))


def observation(**fields: object) -> Record:
    return new_record("observation", {"id": "o1", "project_id": "p", "trace_id": "t1", **fields}, 1)


def test_io_and_metadata_are_rewritten_and_every_use_is_stored_once_per_call():
    store = Recorder()
    chat = [{"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                         {"type": "image_url", "image_url": {"url": data_uri("image/png", PNG)}}]}]
    record = observation(input=orjson.dumps(chat).decode(), output=data_uri("audio/wav", WAV),
                         metadata={"shot": data_uri("image/png", PNG), "plain": "kept"})

    MediaExtractor(store).extract([("observation", record)])

    stored_input = orjson.loads(record["input"])
    assert stored_input[0]["content"][1]["image_url"]["url"] == reference("image/png", PNG)
    assert stored_input[0]["content"][0] == {"type": "text", "text": "what is this?"}
    # A plain-string output stays a plain string (not JSON-quoted).
    assert record["output"] == reference("audio/wav", WAV)
    assert record["metadata"] == {"shot": reference("image/png", PNG), "plain": "kept"}
    [(project_id, uses)] = store.calls
    assert project_id == "p"
    assert [(u.trace_id, u.observation_id, u.field, u.media.content_type) for u in uses] == [
        ("t1", "o1", "input", "image/png"), ("t1", "o1", "output", "audio/wav"), ("t1", "o1", "metadata", "image/png"),
    ]
    assert uses[0].media.data == PNG and uses[1].media.data == WAV


def test_trace_records_link_at_trace_level_and_projects_are_stored_separately():
    store = Recorder()
    image = orjson.dumps({"a": data_uri("image/png", PNG)}).decode()
    trace = new_record("trace", {"id": "t9", "project_id": "p2", "input": image}, 1)
    other = observation(input=orjson.dumps({"b": data_uri("image/png", PNG)}).decode())

    MediaExtractor(store).extract([("trace", trace), ("observation", other)])

    assert [(p, [(u.trace_id, u.observation_id) for u in uses]) for p, uses in store.calls] == [
        ("p2", [("t9", None)]), ("p", [("t1", "o1")]),
    ]


def test_records_without_inline_media_are_untouched_and_nothing_is_stored():
    store = Recorder()
    text = orjson.dumps([{"role": "user", "content": "hello", "data": "x"}]).decode()
    record = observation(input=text, output="not json at all", metadata={"k": "v"})
    score = new_record("score", {"id": "s", "project_id": "p", "name": "n", "value": 1.0}, 1)

    MediaExtractor(store).extract([("observation", record), ("score", score)])

    assert record["input"] is text
    assert record["output"] == "not json at all"
    assert record["metadata"] == {"k": "v"}
    assert store.calls == []


def test_a_disallowed_type_stays_inline():
    store = Recorder()
    odd = orjson.dumps({"f": data_uri("image/x-foo", PNG)}).decode()
    record = observation(input=odd)

    MediaExtractor(store).extract([("observation", record)])

    assert record["input"] == odd
    assert store.calls == []
