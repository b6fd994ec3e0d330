"""A moto S3 server (a real HTTP endpoint in its own process) for the blob contract tests."""

from __future__ import annotations

import uuid

import pytest
from tests.support.s3 import MotoS3Server

from spyglass.storage.blob.s3 import S3BlobStore


@pytest.fixture(scope="session")
def moto_s3(s3_server: MotoS3Server) -> MotoS3Server:
    """The session's moto server (tests/conftest.py), under the name these tests use."""
    return s3_server


@pytest.fixture
def bucket(moto_s3: MotoS3Server) -> str:
    name = f"blob-test-{uuid.uuid4().hex[:16]}"
    moto_s3.create_bucket(name)
    return name


@pytest.fixture
def make_s3_store(moto_s3: MotoS3Server, bucket: str):  # noqa: ANN201
    """Build an S3BlobStore on the per-test bucket (or another), configured as a server process would be."""

    def make(prefix: str = "", *, bucket_name: str | None = None, endpoint_url: str | None = None,
             timeout: float = 5.0) -> S3BlobStore:
        return S3BlobStore(
            bucket_name or bucket,
            prefix=prefix,
            endpoint_url=endpoint_url or moto_s3.endpoint_url,
            region="us-east-1",
            access_key_id="test",
            secret_access_key="test",
            path_style=True,
            timeout=timeout,
        )

    return make
