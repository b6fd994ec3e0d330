"""Value normalisation shared by every ingestion path (Langfuse events and OTLP spans).

These turn what clients send into the encodings documented in `domain.records`.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson

_ENV_ALLOWED = re.compile(r"^[a-z0-9_-]+$")
_ENV_PREFIXES = ("langfuse-", "langfuse_", "langfuse")


def json_text(value: Any) -> str:
    """JSON-encode anything a client sent (non-JSON types fall back to `str`)."""
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def encode_io(value: Any) -> str | None:
    """Input/output are stored as text: strings verbatim, everything else as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json_text(value)


def encode_metadata(value: Any) -> dict[str, str]:
    """A flat string map; non-object metadata is kept under the key ``metadata``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        value = {"metadata": value}
    return {str(k): v if isinstance(v, str) else json_text(v) for k, v in value.items()}


def decode_value(text: str | None) -> Any:
    """Inverse of the text encodings: JSON-parse when possible, else the raw string."""
    if text is None or text == "":
        return None if text is None else text
    first = text[0]
    if first in '{["-0123456789tfn' or first.isdigit():
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def decode_metadata(meta: dict[str, str] | None) -> dict[str, Any]:
    return {k: decode_value(v) for k, v in (meta or {}).items()}


def normalize_environment(value: Any) -> str:
    """Langfuse's rule: lower-case, strip `langfuse` prefixes, ≤ 40 chars of [a-z0-9_-]."""
    if not isinstance(value, str) or not value:
        return "default"
    env = value.lower()
    stripped = True
    while stripped:
        stripped = False
        for prefix in _ENV_PREFIXES:
            if env.startswith(prefix):
                env = env[len(prefix) :]
                stripped = True
                break
    env = env[:40]
    return env if env and _ENV_ALLOWED.match(env) else "default"


def parse_timestamp(value: Any) -> int | None:
    """ISO-8601 text (with or without offset; naive means UTC) → epoch microseconds."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


def format_timestamp(micros: int | None) -> str | None:
    """Epoch microseconds → ISO-8601 with millisecond precision and `Z`, as Langfuse answers."""
    if micros is None:
        return None
    dt = datetime.fromtimestamp(micros // 1_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{(micros % 1_000_000) // 1000:03d}Z"


def datetime_from_micros(micros: int | None) -> datetime | None:
    """Epoch microseconds → an aware UTC datetime, exactly."""
    if micros is None:
        return None
    return datetime.fromtimestamp(micros // 1_000_000, tz=UTC).replace(microsecond=micros % 1_000_000)


def now_micros() -> int:
    dt = datetime.now(tz=UTC)
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


_OPENAI_CHAT_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}
_OPENAI_CHAT_OPTIONAL = {"prompt_tokens_details", "completion_tokens_details"}
_OPENAI_RESPONSES_KEYS = {"input_tokens", "output_tokens", "total_tokens"}
_OPENAI_RESPONSES_OPTIONAL = {"input_tokens_details", "output_tokens_details"}


def _as_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    if isinstance(value, str):
        match = re.match(r"^\s*(\d+)", value)
        return int(match.group(1)) if match else None
    return None


def _openai_usage(usage: dict[str, Any], prefix_in: str, prefix_out: str) -> dict[str, int]:
    input_key, output_key = (
        ("prompt_tokens", "completion_tokens") if prefix_in == "prompt" else ("input_tokens", "output_tokens")
    )
    result: dict[str, int] = {}
    inp = _as_count(usage.get(input_key)) or 0
    out = _as_count(usage.get(output_key)) or 0
    for details_key, side in ((f"{prefix_in}_tokens_details", "input"), (f"{prefix_out}_tokens_details", "output")):
        details = usage.get(details_key)
        if isinstance(details, dict):
            for key, raw in details.items():
                count = _as_count(raw)
                if count is None:
                    continue
                result[f"{side}_{key}"] = count
                if side == "input":
                    inp = max(inp - count, 0)
                else:
                    out = max(out - count, 0)
    result["input"] = inp
    result["output"] = out
    total = _as_count(usage.get("total_tokens"))
    if total is not None:
        result["total"] = total
    return result


def normalize_usage_details(usage: Any) -> dict[str, int]:
    """Langfuse's `UsageDetails` union: OpenAI chat, OpenAI responses, or a map of counts."""
    if not isinstance(usage, dict) or not usage:
        return {}
    keys = set(usage)
    if _OPENAI_CHAT_KEYS <= keys and keys <= _OPENAI_CHAT_KEYS | _OPENAI_CHAT_OPTIONAL:
        return _openai_usage(usage, "prompt", "completion")
    if _OPENAI_RESPONSES_KEYS <= keys and keys <= _OPENAI_RESPONSES_KEYS | _OPENAI_RESPONSES_OPTIONAL:
        return _openai_usage(usage, "input", "output")
    result = {}
    for key, raw in usage.items():
        count = _as_count(raw)
        if count is not None:
            result[str(key)] = count
    return result


def normalize_cost_details(cost: Any) -> dict[str, float]:
    if not isinstance(cost, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in cost.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    }


def legacy_usage(usage: Any) -> tuple[dict[str, int], dict[str, float]]:
    """Langfuse's legacy `usage` object → (usage details, cost details)."""
    if not isinstance(usage, dict) or not usage:
        return {}, {}
    if any(k in usage for k in ("promptTokens", "completionTokens", "totalTokens")):
        usage = {"input": usage.get("promptTokens"), "output": usage.get("completionTokens"),
                 "total": usage.get("totalTokens")}
    counts = {k: c for k in ("input", "output", "total") if (c := _as_count(usage.get(k))) is not None}
    costs = normalize_cost_details(
        {"input": usage.get("inputCost"), "output": usage.get("outputCost"), "total": usage.get("totalCost")}
    )
    return counts, costs
