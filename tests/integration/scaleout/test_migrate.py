"""`spyglass migrate` on a fresh PostgreSQL database from several processes at once."""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa
from tests.support.server import SERVER_PYTHON

from spyglass.storage.oltp.store import OltpStore

pytestmark = pytest.mark.services


def test_concurrent_migrate_processes_all_succeed_and_migrate_once(stack, tmp_path) -> None:  # noqa: ANN001
    processes = []
    for n in range(3):
        env = {**stack.env(), "SPYGLASS_DATA_DIR": str(tmp_path / f"node-{n}"), "PATH": "/usr/bin:/bin"}
        processes.append(subprocess.Popen([SERVER_PYTHON, "-m", "spyglass", "migrate"], env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [(process.wait(120), process.stdout.read()) for process in processes]
    for code, output in outputs:
        assert code == 0, output
        assert "OLTP schema: at head" in output
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
            tables = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    assert versions == [OltpStore.head_revision()]
    assert {"organizations", "projects", "api_keys", "users"} <= tables
