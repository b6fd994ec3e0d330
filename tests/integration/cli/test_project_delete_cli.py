"""`spyglass projects delete` through the real CLI: with the embedded queue the server must be
stopped; the project's keys are refused at once and the next `serve` removes its data."""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from tests.support.server import Keys, SpyglassServer, wait_until


def spyglass(server: SpyglassServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in server.env().items() if not k.startswith("LANGFUSE_INIT_")}
    env["COLUMNS"] = "250"
    return subprocess.run([sys.executable, "-m", "spyglass", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def media_files(server: SpyglassServer, project_id: str) -> list[Path]:
    root = server.data_dir / "blobs" / "media" / project_id
    return sorted(root.rglob("*.png")) if root.exists() else []


def trace_with_media(client: httpx.Client) -> str:
    trace_id = uuid.uuid4().hex
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + uuid.uuid4().bytes).decode()
    batch = {"batch": [{"id": uuid.uuid4().hex, "type": "trace-create", "timestamp": "2026-11-27T00:00:00Z",
                        "body": {"id": trace_id, "input": {"image": f"data:image/png;base64,{image}"}}}]}
    assert client.post("/api/public/ingestion", json=batch).status_code == 207
    wait_until(lambda: client.get(f"/api/public/traces/{trace_id}").status_code == 200, 20)
    return trace_id


def test_delete_refuses_a_running_embedded_server_then_purges_on_the_next_start(tmp_path: Path) -> None:
    server = SpyglassServer(data_dir=tmp_path / "data").start()
    try:
        doomed: Keys = server.create_project("doomed")
        with server.client(doomed) as client:
            trace_with_media(client)
        assert len(media_files(server, doomed.project_id)) == 1

        busy = spyglass(server, "projects", "delete", doomed.project_id, "--yes")
        assert busy.returncode == 2, busy.stderr
        assert "already using the data directory" in busy.stderr
    finally:
        server.stop()

    done = spyglass(server, "projects", "delete", doomed.project_id, "--yes")
    assert done.returncode == 0, done.stderr
    assert f"Project {doomed.project_id} deleted" in done.stdout
    unknown = spyglass(server, "projects", "delete", "no-such-project", "--yes")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "Error: Project not found")

    server.start()
    try:
        with server.client(doomed) as client:
            assert client.get("/api/public/projects").status_code == 401
        # The worker removes the project's files once it applies the queued deletion.
        wait_until(lambda: not media_files(server, doomed.project_id), 30)
        assert doomed.project_id not in spyglass(server, "projects", "list").stdout
        with server.client() as client:  # the provisioned project is untouched
            assert client.get("/api/public/projects").status_code == 200
            trace_with_media(client)
    finally:
        server.stop()
