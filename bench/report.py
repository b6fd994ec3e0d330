"""Presenting results: rich table on the terminal, JSON file, Markdown table in the README."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

RESULTS_DIR = Path(__file__).parent / "results"
README = Path(__file__).parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"
README_ROWS = 20  # newest results shown; older ones stay in bench/results/


def num(v: float | None, fmt: str = ",.0f") -> str:
    """A figure for a table: `fmt`, or "–" when there is none."""
    return "–" if v is None else format(v, fmt)


def _mb(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f} MB"


def render(result: dict, console: Console) -> None:
    s, q, w = result["send"], result["queryable"], result["workload"]
    lat = s["latency_ms"]
    t = Table(title=f"{result['label']} · {result['mode']} · {w['spans']:,} spans", show_header=False)
    t.add_column("metric", style="bold")
    t.add_column("value", justify="right")
    t.add_row("accepted observations/s", num(s["accepted_spans_per_s"]))
    t.add_row("accepted / sent spans", f"{s['acked_spans']:,} / {w['spans']:,}")
    t.add_row("send wall time", f"{s['wall_s']:.2f} s" if s["wall_s"] else "–")
    t.add_row("request latency p50 / p99", f"{num(lat['p50'], '.1f')} / {num(lat['p99'], '.1f')} ms")
    err_style = "red" if s["requests_failed"] or s["event_errors"] else "green"
    t.add_row(
        "errors (requests / events)",
        f"[{err_style}]{s['requests_failed']} / {s['event_errors']}[/]  {dict(s['status_counts'])}",
    )
    if q["status"] == "skipped":
        t.add_row("queryable", "not measured (--readback none)")
    else:
        style = "green" if q["status"] == "ok" else "red"
        t.add_row(
            "read-back status",
            f"[{style}]{q['status']}[/]  ({q['seen_spans']:,} spans, {q['seen_traces']:,} traces)",
        )
        after = q["after_last_ack_s"]
        t.add_row("queryable after last ack", "–" if after is None else f"{after:.2f} s")
        t.add_row("queryable spans/s (first request → all queryable)", num(q["queryable_spans_per_s"]))
    if result.get("server"):
        srv = result["server"]
        t.add_row("server peak RSS (tree, sampled) / VmHWM", f"{_mb(srv['peak_rss_mb'])} / {_mb(srv['vmhwm_mb'])}")
    if result.get("disk"):
        d = result["disk"]
        t.add_row(
            "data dir growth / per span",
            f"{d['growth_bytes'] / 2**20:,.1f} MiB / {num(d['bytes_per_span'])} B",
        )
    t.add_row("wire bytes per span", num(w["wire_bytes_per_span"]))
    t.add_row("load generator CPU while sending", f"{s['client_cpu_s']:.2f} s")
    console.print(t)
    for msg in s["error_samples"]:
        console.print(f"[red]  {msg}[/]")
    if q.get("error"):
        console.print(f"[red]  read-back: {q['error']}[/]")


def save_json(doc: dict, results_dir: Path, suffix: str = "") -> Path:
    """`doc` as <results_dir>/<its started_at as a UTC stamp><suffix>.json."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(doc["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{stamp}{suffix}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    tmp.rename(path)  # never leave a half-written result for the README builder to choke on
    return path


def write_json(result: dict, results_dir: Path = RESULTS_DIR) -> Path:
    return save_json(result, results_dir, f"-{result['mode']}")


def _row(r: dict) -> str:
    s, q, w, c = r["send"], r["queryable"], r["workload"], r["config"]
    lat = s["latency_ms"]
    srv, disk = r.get("server") or {}, r.get("disk") or {}
    unit = "spans" if r["mode"] == "otlp" else "events"
    cells = [
        datetime.fromisoformat(r["started_at"]).strftime("%Y-%m-%d %H:%M"),
        r["label"],
        r["mode"] + (" gzip" if c.get("gzip") else ""),
        f"{w['spans']:,}",
        f"{c['batch']} {unit} × {c['concurrency']}",
        num(s["accepted_spans_per_s"]),
        f"{num(lat['p50'], '.0f')} / {num(lat['p99'], '.0f')}",
        f"{s['requests_failed']} / {s['event_errors']}",
        num(q.get("after_last_ack_s"), ".1f") if q["status"] == "ok" else q["status"],
        num(q.get("queryable_spans_per_s")),
        num(srv.get("peak_rss_mb")),
        num(disk.get("bytes_per_span")),
        r["machine"].get("git_commit") or "–",
    ]
    return "| " + " | ".join(cells) + " |"


def readme_table(results_dir: Path = RESULTS_DIR, limit: int = README_ROWS) -> str:
    results = []
    for p in sorted(results_dir.glob("*.json")):
        try:
            results.append(json.loads(p.read_text()))
        except (OSError, ValueError):
            continue
    results.sort(key=lambda r: r["started_at"], reverse=True)
    head = (
        "| When (UTC) | Target | Mode | Spans | Batch × senders | Accepted obs/s | p50 / p99 ms "
        "| Errors (req / ev) | Queryable after ack (s) | Queryable spans/s | Peak RSS MB | Disk B/span "
        "| Commit |\n"
        "|---|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|---|"
    )
    rows = [_row(r) for r in results[:limit]]
    machine = results[0]["machine"] if results else {}
    note = (
        f"\n\nMachine of the newest run: {machine.get('nproc')} cores ({machine.get('cpu_model')}), "
        f"{machine.get('mem_total_mb')} MB RAM, Python {machine.get('python')}; the load generator shares "
        "the cores with the server."
        if results
        else "\n\n_No results yet: run `bench/run.py`._"
    )
    return head + ("\n" + "\n".join(rows) if rows else "") + note


def write_between(readme: Path, start: str, end: str, body: str, heading: str | None = None) -> None:
    """Put `body` between the markers `start` and `end` in `readme`; without them, append it, under `heading`."""
    text = readme.read_text()
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: block, text, flags=re.S)
    else:
        text = text.rstrip("\n") + (f"\n\n{heading}" if heading else "") + f"\n\n{block}\n"
    readme.write_text(text)


def update_readme(readme: Path = README, results_dir: Path = RESULTS_DIR) -> None:
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: markers {START} / {END} not found")
    write_between(readme, START, END, readme_table(results_dir))
