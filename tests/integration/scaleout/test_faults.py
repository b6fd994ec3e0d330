"""Faults on the scale-out engines: nothing acknowledged is lost, failures answer 503, all recovers."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from tests.integration.api.builders import INGESTION, trace_create, uid
from tests.support.ledger import Ledger, assert_everything_acknowledged_is_there_once, stream
from tests.support.redis import RedisServer
from tests.support.server import wait_until

pytestmark = pytest.mark.services


def _ingest(client: httpx.Client, trace_id: str) -> httpx.Response:
    return client.post(INGESTION, json={"batch": [trace_create(trace_id, name="fault")]})


def _readable(client: httpx.Client, trace_id: str) -> bool:
    return client.get(f"/api/public/traces/{trace_id}").status_code == 200


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(fleet) -> None:  # noqa: ANN001
    owner = fleet.owner()
    api = fleet.api()
    ledger = Ledger()
    # The owner (chDB + worker) dies while the API process keeps accepting into Redis.
    stream(api, ledger, 4.0, owner.kill)
    more = Ledger()
    stream(api, more, 1.0, lambda: None)  # accepted while no worker runs at all
    owner.start()  # a new consumer: the dead one's un-acked jobs come back after the visibility timeout
    assert_everything_acknowledged_is_there_once(owner, ledger)
    assert_everything_acknowledged_is_there_once(owner, more)


def test_a_redis_restart_during_ingestion_loses_nothing_acknowledged(fleet, tmp_path: Path) -> None:  # noqa: ANN001
    redis_server = RedisServer(tmp_path / "redis").start()  # AOF with appendfsync always
    try:
        owner = fleet.owner(SPYGLASS_REDIS_URL=redis_server.url)
        api = fleet.api(SPYGLASS_REDIS_URL=redis_server.url)
        ledger = Ledger()
        stream([api, owner], ledger, 3.0, redis_server.restart)
        after = Ledger()
        stream([api, owner], after, 1.0, lambda: None)
        assert_everything_acknowledged_is_there_once(owner, ledger)
        assert_everything_acknowledged_is_there_once(owner, after)
    finally:
        redis_server.stop()


def test_unreachable_s3_answers_503_and_recovers(fleet, s3_server) -> None:  # noqa: ANN001
    owner = fleet.owner()
    with owner.client() as client:
        before = uid()
        assert _ingest(client, before).status_code == 207
        wait_until(lambda: _readable(client, before), 30)
        s3_server.pause()
        try:
            refused = uid()
            response = _ingest(client, refused)
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "ServiceUnavailableError"
            assert "nothing was accepted" in response.json()["message"]
        finally:
            s3_server.resume()
        after = uid()
        response = wait_until(lambda: (r if (r := _ingest(client, after)).status_code == 207 else None), 30, 0.5)
        assert response.json()["successes"] == [{"id": response.json()["successes"][0]["id"], "status": 201}]
        wait_until(lambda: _readable(client, after), 30)
        assert _readable(client, before)
        assert client.get(f"/api/public/traces/{refused}").status_code == 404  # refused means not stored


def _pg_cluster() -> list[str]:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.skip("pg_ctlcluster is not available to restart PostgreSQL")
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[0]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def test_a_postgresql_restart_fails_fast_with_503_and_recovers(fleet) -> None:  # noqa: ANN001
    cluster = _pg_cluster()
    owner = fleet.owner()
    with owner.client() as client:
        assert client.get("/api/public/projects").status_code == 200
        subprocess.run([*cluster, "stop", "-m", "fast"], check=True, capture_output=True)
        try:
            started = time.monotonic()
            response = client.get("/api/public/projects")
            elapsed = time.monotonic() - started
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "ServiceUnavailableError"
            assert elapsed < 15, "a database outage must be reported, not waited out"
            # An unknown key cannot be checked without the database: 503, never a false 401.
            stranger = httpx.get(f"{owner.base_url}/api/public/projects", auth=("pk-lf-unknown", "sk-lf-x"))
            assert stranger.status_code == 503
            # Ingestion needs no database while the key is in the shared cache.
            trace_id = uid()
            assert _ingest(client, trace_id).status_code == 207
        finally:
            subprocess.run([*cluster, "start"], check=True, capture_output=True)
        wait_until(lambda: client.get("/api/public/projects").status_code == 200, 30, 0.25)
        wait_until(lambda: _readable(client, trace_id), 30)
