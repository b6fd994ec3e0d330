"""A split topology that would strand or lose data refuses to start, saying what to set."""

from __future__ import annotations

import subprocess

import pytest
from tests.support.server import SERVER_PYTHON, free_port

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _run(args: list[str], tmp_path, **env: str) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    full_env = {"PATH": "/usr/bin:/bin", "SPYGLASS_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", **env}
    return subprocess.run([SERVER_PYTHON, "-m", "spyglass", *args], env=full_env, capture_output=True, text=True,
                          timeout=60)


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


def test_no_worker_needs_a_shared_queue_blob_store_and_database(tmp_path) -> None:
    message = _refused(_run(["serve", "--no-worker"], tmp_path))
    for setting in ("SPYGLASS_REDIS_URL", "SPYGLASS_S3_BUCKET", "SPYGLASS_DATABASE_URL"):
        assert setting in message


def test_a_worker_process_needs_a_clickhouse_server(tmp_path) -> None:
    message = _refused(_run(["worker"], tmp_path, SPYGLASS_REDIS_URL="redis://127.0.0.1:6379/0",
                            SPYGLASS_S3_BUCKET="b", SPYGLASS_DATABASE_URL=POSTGRES, SPYGLASS_SALT="s"))
    assert "needs a ClickHouse server" in message and "SPYGLASS_CLICKHOUSE_URL" in message


def test_a_shared_database_needs_an_explicit_salt(tmp_path) -> None:
    message = _refused(_run(["serve"], tmp_path, SPYGLASS_DATABASE_URL=POSTGRES))
    assert "SPYGLASS_SALT must be set" in message


def test_an_unreachable_redis_is_named(tmp_path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    message = _refused(_run(["serve"], tmp_path, SPYGLASS_REDIS_URL=url))
    assert f"cannot reach Redis at {url}" in message


@pytest.mark.services
def test_a_missing_bucket_is_named(tmp_path, s3_server) -> None:  # noqa: ANN001
    message = _refused(_run(["serve"], tmp_path, **s3_server.env("no-such-bucket")))
    assert "no-such-bucket" in message


def test_status_reports_the_embedded_queue(tmp_path) -> None:
    result = _run(["status", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    import json

    report = json.loads(result.stdout)
    assert report["queue"] == {"waiting": 0, "inFlight": 0, "oldestAgeSeconds": None, "deadLetters": 0}
    assert report["stores"]["OLTP"].startswith("sqlite:///")
