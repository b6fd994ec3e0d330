"""The worker's prompt-link step: generations naming a prompt version get its id (Langfuse's rule)."""

from __future__ import annotations

from collections.abc import Iterable

from spyglass.domain.errors import Unavailable
from spyglass.domain.merge import new_record
from spyglass.domain.records import Record
from spyglass.ingestion.prompt_links import PromptLinker


class FakeLinks:
    """`PromptService.link_ids` over a fixed table, recording every call."""

    def __init__(self, ids: dict[tuple[str, str, int], str], *, down: bool = False) -> None:
        self.ids = ids
        self.down = down
        self.calls: list[tuple[str, list[tuple[str, int]]]] = []

    def __call__(self, project_id: str, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], str]:
        pairs = list(pairs)
        self.calls.append((project_id, pairs))
        if self.down:
            raise Unavailable("Service Unavailable")
        return {pair: self.ids[(project_id, *pair)] for pair in pairs if (project_id, *pair) in self.ids}


def generation(id: str, project_id: str = "p", **fields) -> Record:  # noqa: A002, ANN003
    return new_record("observation", {"id": id, "project_id": project_id, "trace_id": "t", "type": "GENERATION",
                                      "start_time": 1, **fields}, now_us=1)


def prompt_fields(record: Record) -> tuple:
    return record["prompt_name"], record["prompt_version"], record["prompt_id"]


def test_a_known_prompt_version_gets_its_id():
    links = FakeLinks({("p", "greeting", 2): "version-id-2"})
    record = generation("o", prompt_name="greeting", prompt_version=2)
    PromptLinker(links).link([record])
    assert prompt_fields(record) == ("greeting", 2, "version-id-2")


def test_an_unknown_prompt_version_clears_name_version_and_id():
    links = FakeLinks({("p", "greeting", 2): "version-id-2"})
    wrong_version = generation("a", prompt_name="greeting", prompt_version=3)
    wrong_name = generation("b", prompt_name="farewell", prompt_version=2)
    PromptLinker(links).link([wrong_version, wrong_name])
    assert prompt_fields(wrong_version) == (None, None, None)
    assert prompt_fields(wrong_name) == (None, None, None)


def test_records_without_a_prompt_are_left_alone_but_for_a_null_id():
    links = FakeLinks({})
    plain = generation("a", name="llm-call", input="hi")
    name_only = generation("b", prompt_name="greeting")
    version_only = generation("c", prompt_version=1)
    empty_name = generation("d", prompt_name="", prompt_version=1)
    stale_id = generation("e", prompt_id="leftover")
    before = [dict(r) for r in (plain, name_only, version_only, empty_name, stale_id)]

    PromptLinker(links).link([plain, name_only, version_only, empty_name, stale_id])

    assert links.calls == []
    for record, original in zip((plain, name_only, version_only, empty_name, stale_id), before, strict=True):
        assert record == {**original, "prompt_id": None}


def test_when_the_database_is_unavailable_the_names_stay_without_an_id():
    links = FakeLinks({("p", "greeting", 2): "version-id-2"}, down=True)
    record = generation("o", prompt_name="greeting", prompt_version=2)
    PromptLinker(links).link([record])
    assert prompt_fields(record) == ("greeting", 2, None)
    assert len(links.calls) == 1


def test_one_call_per_project_with_every_pair_of_that_project():
    links = FakeLinks({("p", "a", 1): "p-a-1", ("q", "a", 1): "q-a-1", ("q", "b", 5): "q-b-5"})
    records = [
        generation("1", "p", prompt_name="a", prompt_version=1),
        generation("2", "q", prompt_name="a", prompt_version=1),
        generation("3", "p", prompt_name="b", prompt_version=5),  # exists in q only
        generation("4", "q", prompt_name="b", prompt_version=5),
        generation("5", "p", prompt_name="a", prompt_version=1),
        generation("6", "q"),
    ]
    PromptLinker(links).link(records)

    assert sorted(project for project, _ in links.calls) == ["p", "q"]
    pairs = dict(links.calls)
    assert sorted(pairs["p"]) == [("a", 1), ("a", 1), ("b", 5)]
    assert sorted(pairs["q"]) == [("a", 1), ("b", 5)]
    assert [prompt_fields(r) for r in records] == [
        ("a", 1, "p-a-1"),
        ("a", 1, "q-a-1"),
        (None, None, None),
        ("b", 5, "q-b-5"),
        ("a", 1, "p-a-1"),
        (None, None, None),
    ]


def test_nothing_to_link_makes_no_call():
    links = FakeLinks({})
    PromptLinker(links).link([])
    PromptLinker(links).link([generation("o")])
    assert links.calls == []
