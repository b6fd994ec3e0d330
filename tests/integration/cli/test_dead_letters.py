"""`spyglass dead-letters list|replay` on a real data dir, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.server import SpyglassServer

from spyglass.storage.queue.local import LocalJobQueue


def spyglass(data_dir, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SPYGLASS_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "spyglass", *args], env=env, capture_output=True, text=True)


def test_dead_letters_are_listed_and_replayed(tmp_path):
    queue = LocalJobQueue(tmp_path / "queue")
    queue.put(b'{"job": 1}')
    queue.dead_letter(queue.take(1, timeout=0.1)[0], "DatabaseError: disk full")

    listed = spyglass(tmp_path, "dead-letters", "list")
    assert listed.returncode == 0 and "DatabaseError: disk full" in listed.stdout

    replayed = spyglass(tmp_path, "dead-letters", "replay")
    assert replayed.returncode == 0 and "1 job(s) back on the queue" in replayed.stdout
    again = LocalJobQueue(tmp_path / "queue")
    assert again.list_dead() == []
    assert [job.payload for job in again.take(5, timeout=0.1)] == [b'{"job": 1}']


def test_replay_refuses_while_a_server_owns_the_data_dir(tmp_path):
    server = SpyglassServer(data_dir=tmp_path / "data").start()
    try:
        result = spyglass(server.data_dir, "dead-letters", "replay")
        assert result.returncode == 2
        assert "already using the data directory" in result.stderr
    finally:
        server.stop()
