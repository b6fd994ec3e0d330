"""The scale-out engines for one test: a scratch PostgreSQL database, a Redis key prefix, an S3 bucket.

Imports only the stdlib and tests.support at module level (psycopg and redis are imported
when a stack is built), so client-side venvs can still import the shared conftest.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from tests.support.redis import delete_redis_prefix, require_redis, shared_redis_url
from tests.support.s3 import MotoS3Server

POSTGRES_ADMIN_URL = os.environ.get("SPYGLASS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin():  # noqa: ANN202 - psycopg is imported lazily on purpose
    import psycopg

    return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)


def require_postgres() -> None:
    import pytest

    try:
        _admin().close()
    except Exception as exc:  # noqa: BLE001
        reason = f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}"
        if os.environ.get("SPYGLASS_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class ScaleOutStack:
    """Everything several Spyglass processes share; `env()` is what each of them is started with."""

    s3: MotoS3Server
    name: str
    redis_url: str

    @classmethod
    def create(cls, s3: MotoS3Server) -> ScaleOutStack:
        require_postgres()
        url = shared_redis_url()
        require_redis(url)
        stack = cls(s3, f"spyglass_{uuid.uuid4().hex[:12]}", url)
        with _admin() as admin:
            admin.execute(f'CREATE DATABASE "{stack.name}"')
        s3.create_bucket(stack.bucket)
        return stack

    @property
    def bucket(self) -> str:
        return self.name.replace("_", "-")

    @property
    def database_url(self) -> str:
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        return f"{base}/{self.name}"

    def env(self) -> dict[str, str]:
        return {
            "SPYGLASS_DATABASE_URL": self.database_url,
            "SPYGLASS_REDIS_URL": self.redis_url,
            "SPYGLASS_REDIS_PREFIX": self.name,
            "SPYGLASS_SALT": f"salt-{self.name}",
            "SPYGLASS_S3_TIMEOUT_SECONDS": "2",
            # Several processes share a machine here: none takes the default OTLP/gRPC port 4317
            # (tests that want the receiver pass `--otlp-grpc-port` with a free port).
            "SPYGLASS_OTLP_GRPC": "off",
            **self.s3.env(self.bucket),
        }

    def close(self) -> None:
        delete_redis_prefix(self.redis_url, self.name)
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
