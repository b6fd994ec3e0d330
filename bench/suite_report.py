"""The side-by-side table of a suite run (bench/suite.py): Markdown for bench/README.md."""

from __future__ import annotations

import json

from report import README, num, write_between

START, END = "<!-- suite:start -->", "<!-- suite:end -->"
READS = {
    "latest_50_traces_24h": "list latest 50 traces (24 h window)",
    "traces_by_user_24h": "list by user id (24 h)",
    "traces_by_tag_24h": "list by tag (24 h)",
    "trace_100_observations": "one trace with 100 observations",
    "cost_by_model_day_30d": "tokens and cost per model per day (30 days)",
}
READ_TARGETS = {"latest_50_traces_24h": 100, "trace_100_observations": 50, "cost_by_model_day_30d": 300}


def dumps(suite: dict) -> str:
    return json.dumps(suite, indent=2, default=str) + "\n"


def _pair(a: float | None, b: float | None, fmt: str = ",.0f") -> str:
    return f"{num(a, fmt)} / {num(b, fmt)}"


def _ratio(ours: float | None, theirs: float | None, invert: bool = False) -> str:
    if not ours or not theirs:
        return "–"
    r = theirs / ours if invert else ours / theirs
    if r < 1:
        return f"{r:.2f}×"
    return f"{r:,.0f}×" if r >= 10 else f"{r:,.1f}×"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("✅" if ok else "❌")


def _get(d: dict | None, *path: str) -> object:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def _columns(suite: dict) -> list[tuple[str, dict]]:
    cols = [("Spyglass", {**suite["spyglass"], "ingest": _get(suite, "spyglass", "ingest", "otlp")})]
    names = {"sqlite": "Phoenix SQLite", "postgres": "Phoenix PostgreSQL"}
    cols += [(names.get(b, b), px) for b, px in suite.get("phoenix", {}).items()]
    return cols


def _scale(col: dict, biggest: bool = True) -> dict | None:
    runs = col.get("scale")
    if isinstance(runs, dict):
        return runs
    if not runs:
        return None
    pick = max if biggest else min
    return pick(runs, key=lambda r: r["workload"]["spans"])


def markdown(suite: dict) -> str:
    cols = _columns(suite)
    sg = cols[0][1]
    px = {name: c for name, c in cols[1:]}
    px_sqlite, px_pg = px.get("Phoenix SQLite"), px.get("Phoenix PostgreSQL")
    header = "| Figure | " + " | ".join(name for name, _ in cols) + " | Spyglass target | Met |"
    lines = [header, "|---|" + "--:|" * len(cols) + "---|:-:|"]

    def row(label: str, values: list[str], target: str = "", met: bool | None = None) -> None:
        lines.append(f"| {label} | " + " | ".join(values) + f" | {target} | {_met(met) if target else ''} |")

    def per(fn) -> list[str]:  # noqa: ANN001
        return [fn(c) for _, c in cols]

    ing = lambda c, *p: _get(c.get("ingest"), *p)  # noqa: E731
    row("OTLP spans sent (ingestion runs)", per(lambda c: num(ing(c, "workload", "spans"))))
    row("accepted spans/s", per(lambda c: num(ing(c, "send", "accepted_spans_per_s"))))
    row("request latency p50 / p99 ms (512 spans)",
        per(lambda c: _pair(ing(c, "send", "latency_ms", "p50"), ing(c, "send", "latency_ms", "p99"))))  # fmt: skip
    q = [ing(c, "queryable", "queryable_spans_per_s") for _, c in cols]
    ours = q[0]
    vs_sqlite = _get(px_sqlite, "ingest", "queryable", "queryable_spans_per_s") if px_sqlite else None
    vs_pg = _get(px_pg, "ingest", "queryable", "queryable_spans_per_s") if px_pg else None
    met = None if ours is None else (ours >= 15_000 and (not vs_sqlite or ours >= 100 * vs_sqlite)
                                      and (not vs_pg or ours >= 20 * vs_pg))  # fmt: skip
    row("**queryable spans/s** (first request → all readable)", [num(v) for v in q],
        f"≥ 15,000; ≥ 100× SQLite ({_ratio(ours, vs_sqlite)}), ≥ 20× PG ({_ratio(ours, vs_pg)})", met)  # fmt: skip
    row("all readable after the last ack, s", per(lambda c: num(ing(c, "queryable", "after_last_ack_s"), ",.1f")))
    if batch := _get(suite, "spyglass", "ingest", "batch"):
        row("Langfuse batch ingestion: accepted / queryable spans/s",
            [_pair(_get(batch, "send", "accepted_spans_per_s"), _get(batch, "queryable", "queryable_spans_per_s"))]
            + ["n/a"] * (len(cols) - 1))  # fmt: skip

    rate = suite.get("freshness_load_rate")
    fr = lambda c, *p: _get(c.get("freshness"), *p)  # noqa: E731

    def freshness(c: dict) -> str:
        if not fr(c, "probes", "n") and fr(c, "probes", "timeouts"):  # not one probe became readable
            return f"> {num(fr(c, 'probes', 'timeout_s') * 1000)} (none readable)"
        return _pair(fr(c, "probes", "p50_ms"), fr(c, "probes", "p99_ms"))

    p99 = fr(sg, "probes", "p99_ms")
    row(f"freshness p50 / p99 ms under {num(rate)} spans/s (50% of Spyglass's max)", per(freshness),
        "p99 < 1,000 ms", None if p99 is None else p99 < 1000)  # fmt: skip
    row("freshness probes: readable / timed out (30 s) / refused",
        per(lambda c: f"{num(fr(c, 'probes', 'n'))} / {num(fr(c, 'probes', 'timeouts'))} / "
                      f"{num(fr(c, 'probes', 'refused'))}"))  # fmt: skip
    row("background load achieved, spans/s", per(lambda c: num(fr(c, "background", "achieved_spans_per_s"))))

    sizes = (True, False) if len(sg.get("scale") or []) > 1 else (False,)
    for small in sizes:
        runs = [_scale(c, biggest=not small) for _, c in cols]
        row("spans loaded over 30 days for the reads", [num(_get(r, "workload", "spans")) for r in runs])
        row("loading them: queryable spans/s", [num(_get(r, "load", "queryable_spans_per_s")) for r in runs])
        for name, label in READS.items():
            target = READ_TARGETS.get(name)
            got = [(_get(r, "reads", "queries", name, "p50_ms"), _get(r, "reads", "queries", name, "p95_ms"))
                   for r in runs]  # fmt: skip
            p50 = got[0][0]
            row(f"{label}: p50 / p95 ms", [_pair(a, b) for a, b in got],
                f"p50 < {target} ms at 10M" if target else "",
                None if p50 is None or target is None or small else p50 < target)  # fmt: skip

    rss = lambda c: max(filter(None, (ing(c, "server", "peak_rss_mb"),  # noqa: E731
                                      _get(_scale(c), "load", "peak_rss_mb"))), default=None)  # fmt: skip
    big = _scale(sg)
    big_rss = _get(big, "load", "peak_rss_mb")
    row("peak RSS MB (server process tree; ingest and load runs)", per(lambda c: num(rss(c))),
        f"< 1,024 while loading {num(_get(big, 'workload', 'spans'))}", None if big_rss is None else big_rss < 1024)
    pg_mem = _get(px_pg, "ingest", "postgres_backends", "pss_kb") if px_pg else None
    if pg_mem:
        row("  + PostgreSQL backends serving Phoenix (PSS MB)", ["–"] * (len(cols) - 1) + [num(pg_mem / 1024)])
    disk = [ing(c, "disk", "bytes_per_span") for _, c in cols]
    theirs = [d for d in disk[1:] if d]
    row("disk bytes per span (ingestion runs)", [num(d) for d in disk],
        "≤ 0.3× Phoenix's" + "".join(f" ({_ratio(disk[0], t, invert=False)})" for t in theirs),
        None if not disk[0] or not theirs else all(disk[0] <= 0.3 * t for t in theirs))  # fmt: skip
    settled = [_get(_scale(c), "load", "disk_bytes_per_span") for _, c in cols]
    theirs = [d for d in settled[1:] if d]
    row("disk bytes per span after the biggest 30-day load", [num(d) for d in settled],
        "≤ 0.3× Phoenix's" + "".join(f" ({_ratio(settled[0], t)})" for t in theirs),
        None if not settled[0] or not theirs else all(settled[0] <= 0.3 * t for t in theirs))  # fmt: skip

    ceiling = suite.get("ceiling") or {}
    machine = suite.get("machine") or {}
    phoenix_version = next((_get(c, "server", "version") for _, c in cols[1:]), None)
    foot = [
        "",
        f"Run {suite['started_at']} · commit {machine.get('git_commit')} · {machine.get('nproc')} cores "
        f"({machine.get('cpu_model')}), {num(machine.get('mem_total_mb'))} MB RAM, Python {machine.get('python')} · "
        f"Phoenix {phoenix_version or '–'} · whole run {num(suite.get('wall_s'))} s. The load generator shares the "
        "cores with the server.",
        "",
        "Single-core Python ceiling (spans/s on one core): "
        + ", ".join(f"{k} {num(v)}" for k, v in ceiling.items()) + ".",
    ]
    return "\n".join(lines + foot)


def update_readme(suite: dict) -> None:
    write_between(README, START, END, markdown(suite))
