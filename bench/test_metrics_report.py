"""The issue #5 table renderer: `.venv/bin/python -m pytest bench/test_metrics_report.py`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import metrics_report  # noqa: E402
from reads import QUERIES  # noqa: E402


def _result(spans: int, p50: float) -> dict:
    q = {"status": "ok", "p50_ms": p50, "p95_ms": p50 * 2, "items_min": 3, "items_max": 4}
    return {
        "started_at": "2026-11-27T00:00:00+00:00",
        "finished_at": "2026-11-27T00:06:00+00:00",
        "workload": {"spans": spans, "days": 30},
        "load": {"queryable_spans_per_s": 9000.0, "wall_s": 100.0, "queryable_after_last_ack_s": 5.0},
        "reads": {
            "warmup": 3,
            "repeats": 30,
            "loadavg_at_start": [0.5, 0.6, 0.7],
            "queries": dict.fromkeys(QUERIES, q),
        },
        "machine": {
            "git_commit": "abc1234",
            "git_src_dirty": True,
            "nproc": 2,
            "cpu_model": "CPU",
            "mem_total_mb": 1024,
            "python": "3.11",
        },
    }


def test_rows_per_size_and_query_with_the_metrics_queries_first(tmp_path: Path) -> None:
    md = metrics_report.markdown([_result(10_000_080, 200.0), _result(1_000_110, 20.0)])
    rows = [ln for ln in md.splitlines() if ln.startswith("| 1")]
    assert len(rows) == 2 * len(QUERIES)
    assert rows[0].startswith("| 1M (1,000,110 obs.) | **v2 metrics: sum totalCost")
    assert "| 20 | 40 | 3–4 | ok |" in rows[0]
    assert rows[1].split(" | ")[1].startswith("**v2 metrics: p95 latency")
    assert rows[len(QUERIES)].startswith("| 10M (10,000,080 obs.)")
    assert "commit abc1234 + uncommitted changes under src/" in md and "(6.0 min in all)" in md

    readme = tmp_path / "README.md"
    readme.write_text("# Bench\n")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(_result(1_000_110, 20.0)))
    metrics_report.main([str(path), "--readme", str(readme)])
    metrics_report.main([str(path), "--readme", str(readme)])  # replaced between the markers, not appended again
    text = readme.read_text()
    assert text.count(metrics_report.HEADING) == 1 and text.count(metrics_report.START) == 1
