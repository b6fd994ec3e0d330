"""The scale-out harness end to end on a tiny workload: `.venv/bin/python -m pytest bench/test_scaleout.py`.

A real fleet (owner + two `serve --no-worker` on a scratch PostgreSQL database, a Redis prefix
and moto S3) takes 1,000 spans; every one must be acknowledged and readable through the owner,
the queue and CPU must have been measured, and nothing may be left behind. Needs PostgreSQL
and Redis: skipped without them (failed when SPYGLASS_REQUIRE_SERVICES=1), as tests/support does.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from tests.support.redis import require_redis, shared_redis_url
from tests.support.stack import require_postgres

sys.path.insert(0, str(Path(__file__).parent))

import scaleout  # noqa: E402
import scaleout_report  # noqa: E402

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, Path]:
    require_postgres()
    require_redis(shared_redis_url())
    out = tmp_path_factory.mktemp("scaleout-results")
    rc, run = scaleout.main(
        ["--configs", "scaleout", "--spans", "1000", "--batch-spans", "100", "--no-readme", "--results-dir", str(out)]
    )
    return rc, run, out


def test_every_span_sent_through_both_api_processes_is_readable_through_the_owner(tiny_run) -> None:  # noqa: ANN001
    rc, run, _ = tiny_run
    assert rc == 0
    r = run["configs"]["scaleout"]
    assert r["send"]["acked_spans"] == 1000 and r["send"]["requests_failed"] == 0
    assert r["queryable"]["status"] == "ok" and r["queryable"]["seen_spans"] == 1000
    assert r["queryable"]["queryable_spans_per_s"] > 0
    assert r["queryable"]["queryable_spans_per_s"] <= r["send"]["accepted_spans_per_s"]
    per = {p["node"]: p for p in r["send"]["per_process"]}
    assert set(per) == {"api-1", "api-2"} and all(p["acked_spans"] == 500 and p["senders"] == 2 for p in per.values())
    assert r["processes"]["api-1"]["argv"][-1] == "--no-worker" and "--no-worker" not in r["processes"]["owner"]["argv"]


def test_the_owners_queue_cpu_and_memory_were_measured(tiny_run) -> None:  # noqa: ANN001
    _, run, _ = tiny_run
    r = run["configs"]["scaleout"]
    assert r["queue"]["role"] == "all" and r["queue"]["samples"] >= 1 and r["queue"]["max_dead_letters"] == 0
    cpu = r["cpu"]["components_s"]
    assert {"owner", "api-1", "api-2", "moto", "redis-server", "postgres", "loadgen"} <= set(cpu)
    assert cpu["owner"] > 0 and cpu["api-1"] + cpu["api-2"] > 0 and cpu["moto"] > 0
    groups = r["cpu"]["owner_groups_s"]
    assert sum(groups.values()) == pytest.approx(cpu["owner"], abs=0.05)
    if scaleout.PYSPY:  # Python threads named: the worker did the merging
        assert groups["worker"] > 0
    assert r["cpu"]["machine_busy_s"] > 0 and r["cpu_us_per_span"]["owner"] > 0
    assert all(r["rss_mb"][n]["peak"] > 50 for n in ("owner", "api-1", "api-2", "moto"))


def test_nothing_is_left_behind(tiny_run) -> None:  # noqa: ANN001
    _, run, _ = tiny_run
    r = run["configs"]["scaleout"]
    assert r["cleanup"] == {"processes_alive": [], "database_left": False, "redis_keys_left": 0, "moto_alive": False}
    for proc in r["processes"].values():
        with pytest.raises(ProcessLookupError):
            os.kill(proc["pid"], 0)


def test_the_result_is_saved_and_the_readme_section_is_written_once(tiny_run, tmp_path: Path) -> None:  # noqa: ANN001
    _, run, out = tiny_run
    [saved] = out.glob("*.json")
    assert json.loads(saved.read_text())["configs"]["scaleout"]["send"]["acked_spans"] == 1000
    readme = tmp_path / "README.md"
    readme.write_text("# Bench\n\nintro\n")
    scaleout_report.update_readme(run, readme)
    scaleout_report.update_readme(run, readme)
    text = readme.read_text()
    assert text.startswith("# Bench\n\nintro\n") and text.count(scaleout_report.SECTION) == 1
    assert text.count(scaleout_report.START) == 1 and text.count(scaleout_report.END) == 1
    assert "| **accepted spans/s** (first request → last ack) | **" in text
    assert "scale-out: owner + 2 × `serve --no-worker`" in text
