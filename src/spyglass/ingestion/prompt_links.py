"""The prompt-link step of the worker: generations that name a prompt version get its id.

Langfuse looks the (name, version) pair up when it writes the observation: found, the
observation keeps name and version and gains `prompt_id`; not found, all three are
cleared. When the database cannot answer, the name and version stay without an id rather
than holding up ingestion.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable

from spyglass.domain.errors import Unavailable
from spyglass.domain.records import Record

log = logging.getLogger(__name__)

LinkIds = Callable[[str, Iterable[tuple[str, int]]], dict[tuple[str, int], str]]


class PromptLinker:
    def __init__(self, link_ids: LinkIds) -> None:
        self._link_ids = link_ids

    def link(self, observations: Iterable[Record]) -> None:
        wanted: dict[str, list[Record]] = defaultdict(list)
        for record in observations:
            if record["prompt_name"] and record["prompt_version"] is not None:
                wanted[record["project_id"]].append(record)
            else:
                record["prompt_id"] = None
        for project_id, records in wanted.items():
            try:
                ids = self._link_ids(project_id, [(r["prompt_name"], r["prompt_version"]) for r in records])
            except Unavailable:
                log.warning("OLTP database unavailable; %d generation(s) keep their prompt name without its id",
                            len(records))
                continue
            for record in records:
                prompt_id = ids.get((record["prompt_name"], record["prompt_version"]))
                record["prompt_id"] = prompt_id
                if prompt_id is None:
                    record["prompt_name"] = record["prompt_version"] = None
