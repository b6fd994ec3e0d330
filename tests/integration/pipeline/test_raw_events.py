"""Raw request bodies: a second copy of the data once applied, so dropped unless kept on purpose."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.api.builders import INGESTION, observation, trace_create, uid
from tests.support.server import SpyglassServer, wait_until


def ingest_one_trace(server: SpyglassServer) -> str:
    trace_id = uid()
    batch = [trace_create(trace_id, name="raw"), observation("span-create", uid(), trace_id, name="s")]
    with server.client() as client:
        response = client.post(INGESTION, json={"batch": batch})
        assert response.status_code == 207, response.text
        assert wait_until(lambda: client.get(f"/api/public/traces/{trace_id}").status_code == 200, timeout=30)
    return trace_id


def raw_bodies(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs" / "ingest").rglob("*") if p.is_file()]


@pytest.mark.parametrize(("keep", "expected"), [(None, 0), ("true", 1)], ids=["default", "kept"])
def test_applied_bodies_are_dropped_unless_kept(tmp_path: Path, keep: str | None, expected: int) -> None:
    env = {"SPYGLASS_KEEP_RAW_EVENTS": keep} if keep else {}
    server = SpyglassServer(data_dir=tmp_path / "data", extra_env=env).start()
    try:
        ingest_one_trace(server)
        # The body goes right after the ack that follows the write: allow that moment.
        assert wait_until(lambda: len(raw_bodies(server.data_dir)) == expected, timeout=10)
        with server.client() as client:
            assert client.get("/api/public/traces", params={"name": "raw"}).json()["meta"]["totalItems"] == 1
    finally:
        server.stop()
