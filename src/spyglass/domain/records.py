"""The shapes of ingested entities: patches going in, merged records coming out.

A *patch* is a plain ``dict`` carrying the fields one ingestion event sets for one
entity (a trace, an observation or a score). Keys are the OLAP column names below.
A key that is absent means "this event says nothing about the field"; a key present
with ``None`` means "set it to null" (Langfuse semantics: explicit null overwrites).
Plain dicts rather than classes because the mapping of OTLP spans to patches is the
hottest loop in the process.

Value encodings inside patches and records (identical to what is stored):

* timestamps: ``int`` microseconds since the Unix epoch, UTC;
* ``metadata``: ``dict[str, str]``: a flat map whose non-string values are JSON-encoded;
* ``input`` / ``output`` / ``model_parameters``: ``str`` (JSON text unless the client
  sent a plain string) or ``None``;
* ``tags``: ``list[str]``;
* usage maps: ``dict[str, int]``; cost maps: ``dict[str, float]``.

Every patch carries ``id`` and ``project_id``. A patch may also carry ``fill``: a dict of
fallback values applied only to fields that are still empty (see `domain.merge`).
"""

from __future__ import annotations

from typing import Any, Final, Literal

Patch = dict[str, Any]
Record = dict[str, Any]
EntityKind = Literal["trace", "observation", "score"]

OBSERVATION_TYPES: Final = (
    "SPAN",
    "GENERATION",
    "EVENT",
    "AGENT",
    "TOOL",
    "CHAIN",
    "RETRIEVER",
    "EVALUATOR",
    "EMBEDDING",
    "GUARDRAIL",
)
LEVELS: Final = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
SCORE_DATA_TYPES: Final = ("NUMERIC", "CATEGORICAL", "BOOLEAN", "TEXT", "CORRECTION")
SCORE_SOURCES: Final = ("API", "EVAL", "ANNOTATION")

# Column defaults of a record that no event has set yet. Order = OLAP column order.
TRACE_DEFAULTS: Final[Record] = {
    "id": "",
    "project_id": "",
    "timestamp": 0,
    "name": "",
    "user_id": None,
    "session_id": None,
    "release": None,
    "version": None,
    "environment": "default",
    "public": False,
    "bookmarked": False,
    "tags": [],
    "input": None,
    "output": None,
    "metadata": {},
    "created_at": 0,
    "updated_at": 0,
}

OBSERVATION_DEFAULTS: Final[Record] = {
    "id": "",
    "project_id": "",
    "trace_id": "",
    "type": "SPAN",
    "parent_observation_id": None,
    "start_time": 0,
    "end_time": None,
    "completion_start_time": None,
    "name": "",
    "environment": "default",
    "level": "DEFAULT",
    "status_message": None,
    "version": None,
    "input": None,
    "output": None,
    "metadata": {},
    "provided_model_name": None,
    "internal_model_id": None,
    "model_parameters": None,
    "provided_usage_details": {},
    "usage_details": {},
    "provided_cost_details": {},
    "cost_details": {},
    "total_cost": None,
    "usage_pricing_tier_id": None,
    "usage_pricing_tier_name": None,
    "prompt_id": None,
    "prompt_name": None,
    "prompt_version": None,
    "created_at": 0,
    "updated_at": 0,
}

SCORE_DEFAULTS: Final[Record] = {
    "id": "",
    "project_id": "",
    "timestamp": 0,
    "name": "",
    "value": 0.0,
    "string_value": None,
    "long_string_value": "",
    "data_type": "NUMERIC",
    "source": "API",
    "comment": None,
    "metadata": {},
    "trace_id": None,
    "observation_id": None,
    "session_id": None,
    "dataset_run_id": None,
    "config_id": None,
    "queue_id": None,
    "author_user_id": None,
    "execution_trace_id": None,
    "environment": "default",
    "created_at": 0,
    "updated_at": 0,
}

DEFAULTS: Final[dict[str, Record]] = {
    "trace": TRACE_DEFAULTS,
    "observation": OBSERVATION_DEFAULTS,
    "score": SCORE_DEFAULTS,
}
