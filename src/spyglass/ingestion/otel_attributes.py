"""OTLP attribute values → plain Python values, and the small value rules shared by the OTel mapping.

Values follow the Langfuse reference (§3.2): strings, bools, ints and doubles as themselves,
arrays as lists, and anything else (kvlist, bytes) as the JSON text of its OTLP/JSON form.
Truthiness follows JavaScript, because the reference rules are phrased as "first truthy wins"
and an empty list still counts there.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Final

import orjson
from google.protobuf.json_format import MessageToDict

from spyglass.domain.values import json_text

_NON_FINITE: Final = {math.inf: "Infinity", -math.inf: "-Infinity"}
_UNSAFE_SEGMENTS: Final = frozenset(("__proto__", "constructor", "prototype"))
# Reconstructed arrays may not hold more slots than this in total: `prompt.9999999.content`
# would otherwise materialise a huge sparse list.
MAX_ARRAY_SLOTS: Final = 10_001


def decode_any_value(value: Any) -> Any:
    """One `AnyValue` message → str | int | float | bool | list | None (others → JSON text)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "int_value":
        return value.int_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "double_value":
        number = value.double_value
        if math.isfinite(number):
            return number
        # JSON has no NaN/Infinity; OTLP/JSON spells them as strings, so do we.
        return _NON_FINITE.get(number, "NaN")
    if kind == "array_value":
        return [decode_any_value(item) for item in value.array_value.values]
    if kind is None:
        return None
    return json_text(MessageToDict(value))


def attributes_to_dict(key_values: Iterable[Any]) -> dict[str, Any]:
    """A repeated `KeyValue` field → dict; the one conversion every span pays for, hence inlined.

    Reading `string_value` first saves a `WhichOneof` call for the common case: a non-empty
    result can only come from a string value.
    """
    result: dict[str, Any] = {}
    for key_value in key_values:
        value = key_value.value
        text = value.string_value
        result[key_value.key] = text if text else decode_any_value(value)
    return result


def is_truthy(value: Any) -> bool:
    """JavaScript truthiness over decoded attribute values: empty lists/objects are truthy."""
    return bool(value) or isinstance(value, list | dict)


def has_meaningful_value(value: Any) -> bool:
    """Not null, not "", not an empty list/object (0 and False count as meaningful)."""
    if value is None or value == "":
        return False
    if isinstance(value, list | dict):
        return bool(value)
    return True


# JavaScript prints integral numbers below 1e21 without a fraction: 1.0 → "1", 1e16 → "10000000000000000".
_JS_INTEGRAL_LIMIT: Final = 1e21


def js_number(value: float) -> float | int:
    """A double as JavaScript holds it: integral values become ints, so JSON renders `1`, not `1.0`.

    OTLP `doubleValue`s such as `temperature=1.0` from Python instrumentations are plain numbers
    to the reference implementation, which prints them the JavaScript way.
    """
    if value.is_integer() and abs(value) < _JS_INTEGRAL_LIMIT:
        return int(value)
    return value


def js_value(value: Any) -> Any:
    """`value` with every integral double replaced by an int (lists and objects walked)."""
    if type(value) is float:
        return js_number(value) if math.isfinite(value) else value
    if isinstance(value, list):
        return [js_value(item) for item in value]
    if isinstance(value, dict):
        return {key: js_value(item) for key, item in value.items()}
    return value


def js_string(value: Any) -> str:
    """JavaScript `String(value)` for decoded attribute values (arrays join with commas)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return _NON_FINITE.get(value, "NaN")
        return json_text(js_number(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return ",".join("" if item is None else js_string(item) for item in value)
    return "[object Object]" if isinstance(value, dict) else str(value)


def as_text(value: Any) -> str:
    """Strings as they are, anything else as JavaScript's `JSON.stringify` would write it (the
    reference's "non-strings JSON-stringified"): compact, and integral doubles without `.0`."""
    return value if isinstance(value, str) else json_text(js_value(value))


def first_truthy(attributes: dict[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and (value or isinstance(value, list | dict)):
            return value
    return None


def parse_json(value: Any) -> Any:
    """Objects pass through, strings are JSON-parsed; anything unparsable → None."""
    if isinstance(value, dict | list):
        return value
    if isinstance(value, str):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return None


def parse_json_object(value: Any) -> dict[str, Any] | None:
    parsed = parse_json(value)
    return parsed if isinstance(parsed, dict) else None


def to_number(value: Any) -> float | int | None:
    """JavaScript `Number(value)` restricted to what usage and cost attributes actually carry."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and value.strip():
        try:
            number = float(value)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        return int(number) if number.is_integer() else number
    return None


def _is_index(segment: str) -> bool:
    return segment.isdigit() and segment.isascii()


class _SlotBudget:
    """Counts array slots a set of dotted paths would create; growth past the cap is refused."""

    __slots__ = ("used", "lengths")

    def __init__(self) -> None:
        self.used = 0
        self.lengths: dict[tuple[str, ...], int] = {}

    def reserve(self, parts: list[str]) -> bool:
        pending: dict[tuple[str, ...], int] = {}
        extra = 0
        for position, segment in enumerate(parts):
            if not _is_index(segment):
                continue
            path = tuple(parts[:position])
            previous = pending.get(path, self.lengths.get(path, 0))
            required = int(segment) + 1
            if required > previous:
                extra += required - previous
                pending[path] = required
                if self.used + extra > MAX_ARRAY_SLOTS:
                    return False
        self.used += extra
        self.lengths.update(pending)
        return True


def _child(container: Any, segment: str, next_segment: str) -> Any:
    """The container at `segment`, created (list if the next segment is an index) when missing."""
    fresh: Any = [] if _is_index(next_segment) else {}
    if isinstance(container, dict):
        if segment not in container:
            container[segment] = fresh
        return container[segment]
    if isinstance(container, list) and _is_index(segment):
        index = int(segment)
        if index >= len(container):
            container.extend([None] * (index + 1 - len(container)))
        if container[index] is None:
            container[index] = fresh
        return container[index]
    return None


def _set_path(root: Any, parts: list[str], value: Any) -> None:
    container = root
    for position in range(len(parts) - 1):
        container = _child(container, parts[position], parts[position + 1])
        if container is None:
            return
    last = parts[-1]
    if isinstance(container, dict):
        container[last] = value
    elif isinstance(container, list) and _is_index(last):
        index = int(last)
        if index >= len(container):
            container.extend([None] * (index + 1 - len(container)))
        container[index] = value


def rebuild_flattened(attributes: dict[str, Any], keys: Iterable[str], prefix: str) -> Any:
    """Rebuild `prefix.0.role`, `prefix.0.content`… into `[{"role": …, "content": …}]`.

    An attribute named exactly `prefix` wins when truthy (some instrumentations send the whole
    payload there). Numeric segments become list indices; unsafe segments and paths beyond the
    slot budget are dropped. Returns None when nothing was reconstructed.
    """
    whole = attributes.get(prefix)
    if whole is not None and is_truthy(whole):
        return whole
    start = len(prefix) + 1
    paths: list[tuple[list[str], Any]] = []
    budget = _SlotBudget()
    as_list = False
    for key in keys:
        if len(key) <= start or key[start - 1] != ".":
            continue
        parts = key[start:].split(".")
        if _UNSAFE_SEGMENTS.intersection(parts) or not budget.reserve(parts):
            continue
        paths.append((parts, attributes[key]))
        as_list = as_list or (len(parts) > 1 and _is_index(parts[0]))
    if not paths:
        return None
    root: Any = [] if as_list else {}
    for parts, value in paths:
        if as_list:
            # Array mode keeps only `N.field…` paths: a bare `N` has no field to set.
            if len(parts) < 2 or not _is_index(parts[0]):
                continue
            element = _child(root, parts[0], "")
            if isinstance(element, dict):
                _set_path(element, parts[1:], value)
        else:
            _set_path(root, parts, value)
    return root


_GROUP_ROOTS: Final = (
    "gen_ai.",
    "llm.",
    "langfuse.observation.metadata",
    "langfuse.trace.metadata",
    "langfuse.metadata",
    "ai.telemetry.metadata.",
)


class KeyGroups:
    """Attribute keys sorted by the prefix families the mapping rules scan, found in one pass.

    Several rules ("every `gen_ai.usage.*` key", "every `langfuse.trace.metadata*` key") would
    otherwise each walk all attribute keys of every span.
    """

    __slots__ = ("metadata", "usage", "params", "prompt", "completion", "llm_input", "llm_output",
                 "trace_metadata")

    def __init__(self) -> None:
        self.metadata: list[str] = []
        self.usage: list[str] = []
        self.params: list[str] = []
        self.prompt: list[str] = []
        self.completion: list[str] = []
        self.llm_input: list[str] = []
        self.llm_output: list[str] = []
        self.trace_metadata = False


_NO_GROUPS: Final = KeyGroups()  # shared: consumers only read groups

# Keys the Langfuse SDK sets on most spans; a set lookup dismisses them faster than a prefix test.
_COMMON_KEYS: Final = frozenset((
    "langfuse.observation.type", "langfuse.observation.input", "langfuse.observation.output",
    "langfuse.environment", "langfuse.release", "langfuse.version", "user.id", "session.id",
    "langfuse.trace.tags", "langfuse.trace.name", "langfuse.internal.is_app_root",
    "langfuse.internal.as_root", "langfuse.observation.model.name", "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details", "langfuse.observation.cost_details",
    "langfuse.observation.completion_start_time", "gen_ai.system", "gen_ai.request.model",
    "gen_ai.response.model", "gen_ai.operation.name", "langfuse.observation.level",
    "langfuse.observation.status_message", "langfuse.observation.prompt.name",
    "langfuse.observation.prompt.version", "langfuse.trace.input", "langfuse.trace.output",
    "langfuse.trace.public", "input.value", "output.value", "openinference.span.kind", "llm.model_name",
    "llm.invocation_parameters",
))


def group_keys(attributes: dict[str, Any]) -> KeyGroups:
    candidates = [key for key in attributes if key not in _COMMON_KEYS and key.startswith(_GROUP_ROOTS)]
    if not candidates:
        return _NO_GROUPS
    groups = KeyGroups()
    for key in candidates:
        if key.startswith("gen_ai."):
            if key.startswith("gen_ai.usage."):
                if key != "gen_ai.usage.cost":
                    groups.usage.append(key)
            elif key.startswith("gen_ai.request."):
                groups.params.append(key)
            elif key.startswith("gen_ai.prompt"):
                groups.prompt.append(key)
            elif key.startswith("gen_ai.completion"):
                groups.completion.append(key)
        elif key.startswith("llm."):
            if key.startswith("llm.token_count."):
                groups.usage.append(key)
            elif key.startswith("llm.invocation_parameters."):
                groups.params.append(key)
            elif key.startswith("llm.input_messages"):
                groups.llm_input.append(key)
            elif key.startswith("llm.output_messages"):
                groups.llm_output.append(key)
        else:
            groups.metadata.append(key)
            if key.startswith("langfuse.trace.metadata"):
                groups.trace_metadata = True
    return groups
