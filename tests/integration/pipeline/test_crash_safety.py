"""Durability: whatever was acknowledged survives SIGKILL and SIGTERM, exactly once; one process
per data directory."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.integration.api.builders import INGESTION
from tests.support.ledger import Ledger, assert_everything_acknowledged_is_there_once, stream
from tests.support.server import SERVER_PYTHON, SpyglassServer, free_port


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[SpyglassServer]:
    instance = SpyglassServer(data_dir=tmp_path / "data").start()
    yield instance
    instance.stop()


def test_sigkill_mid_stream_loses_nothing_acknowledged(fresh: SpyglassServer) -> None:
    ledger = Ledger()
    stream(fresh, ledger, 5.0, fresh.kill)
    assert fresh.process is None
    fresh.start()
    assert_everything_acknowledged_is_there_once(fresh, ledger)
    # And the restarted server takes new writes.
    second = Ledger()
    stream(fresh, second, 1.0, lambda: None)
    assert_everything_acknowledged_is_there_once(fresh, second)


def test_repeated_sigkill(fresh: SpyglassServer) -> None:
    ledger = Ledger()
    for _ in range(3):
        stream(fresh, ledger, 1.5, fresh.kill)
        fresh.start()
    assert_everything_acknowledged_is_there_once(fresh, ledger)


def test_sigterm_right_after_ingest_is_clean_and_durable(fresh: SpyglassServer) -> None:
    ledger = Ledger()
    with httpx.Client(base_url=fresh.base_url, auth=fresh.keys.auth, timeout=10) as client:
        for _ in range(30):
            events, entities = ledger.batch()
            ledger.record(ledger.sent, entities)
            response = client.post(INGESTION, json={"batch": events})
            assert response.status_code == 207 and response.json()["errors"] == []
            ledger.record(ledger.acked, entities)
            ledger.batches_acked += 1
    code = fresh.stop(signal.SIGTERM)
    fresh.start()
    assert_everything_acknowledged_is_there_once(fresh, ledger)
    assert code == 0, f"graceful shutdown on SIGTERM should exit 0, got {code}"


def test_sigterm_during_load_exits_zero(fresh: SpyglassServer) -> None:
    ledger = Ledger()
    codes: list[int | None] = []
    stream(fresh, ledger, 2.0, lambda: codes.append(fresh.stop(signal.SIGTERM)))
    fresh.start()
    assert_everything_acknowledged_is_there_once(fresh, ledger)
    assert codes == [0], f"graceful shutdown on SIGTERM should exit 0, got {codes}"


def test_second_server_on_the_same_data_dir_refuses_to_start(fresh: SpyglassServer) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [SERVER_PYTHON, "-m", "spyglass", "serve", "--port", str(free_port())],
        env=fresh.env(), capture_output=True, text=True, timeout=60,
    )
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    output = " ".join((result.stdout + result.stderr).split())
    assert "already using the data directory" in output, output
    # The first server is unaffected.
    with fresh.client() as client:
        assert client.get("/api/public/health").status_code == 200
        assert client.get("/api/public/traces").status_code == 200
