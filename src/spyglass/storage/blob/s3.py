"""Blob store on S3 (or any S3-compatible service): the scaled-mode implementation.

A put is durable once S3 has acknowledged the PutObject, so `put` returns only after that
response; a failure raises instead of pretending the bytes were stored.
"""

from __future__ import annotations

from typing import BinaryIO, cast

import boto3.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


class BlobStoreUnavailable(RuntimeError):
    """The bucket cannot be used: missing, credentials refused, or endpoint unreachable."""


def _validate(key: str) -> str:
    # Same rule as LocalBlobStore so a key valid in one mode is valid in the other.
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


class S3BlobStore:
    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        path_style: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.endpoint_url = endpoint_url
        config = Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"mode": "standard", "max_attempts": 3},
            # The web threadpool puts concurrently; botocore's default pool of 10 would serialise them.
            max_pool_connections=32,
            s3={"addressing_style": "path"} if path_style else None,
        )
        # A private session keeps boto3's module-level default session (and its globals) untouched.
        # None credentials fall through to boto3's default chain (env, profile, instance role).
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
        )
        self._client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # Presigned URLs are used by clients, not by us: SigV4 (every region accepts it; botocore
        # would presign with SigV2 by default), and no checksum of an empty body (newer botocore
        # adds one by default), only the SHA-256 we sign on purpose.
        self._signer = session.client("s3", endpoint_url=endpoint_url, config=config.merge(
            Config(signature_version="s3v4", request_checksum_calculation="when_required")))

    def _where(self) -> str:
        return f"bucket {self.bucket!r} at {self.endpoint_url or 'the default AWS endpoint'}"

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self.prefix + _validate(key), Body=data)

    def put_file(self, key: str, source: BinaryIO) -> None:
        self._client.upload_fileobj(source, self.bucket, self.prefix + _validate(key))

    def get(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def open(self, key: str) -> BinaryIO:
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=self.prefix + _validate(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise KeyError(key) from None
            raise
        return cast(BinaryIO, response["Body"])

    def presigned_put(self, key: str, *, content_type: str, sha256_hash: str, expires_in: int) -> str:
        """A PUT URL that needs no credentials; S3 itself checks the type and the SHA-256 of the body."""
        params = {"Bucket": self.bucket, "Key": self.prefix + _validate(key), "ContentType": content_type,
                  "ChecksumSHA256": sha256_hash}
        return self._signer.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)

    def presigned_get(self, key: str, *, expires_in: int, content_type: str | None = None) -> str:
        """A GET URL that needs no credentials; `content_type` overrides what the object was stored with."""
        params = {"Bucket": self.bucket, "Key": self.prefix + _validate(key)}
        if content_type is not None:
            params["ResponseContentType"] = content_type
        return self._signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)

    def delete(self, key: str) -> None:
        # DeleteObject already succeeds for a missing key, which is the idempotence we want.
        self._client.delete_object(Bucket=self.bucket, Key=self.prefix + _validate(key))

    def list_prefix(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        return sorted(keys)

    def check(self) -> None:
        """Fail fast at startup rather than on the first ingested batch."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchBucket", "NotFound"):
                reason = "the bucket does not exist"
            elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                reason = "access was refused (check the credentials)"
            else:
                reason = f"S3 answered {code or 'an error'}"
            raise BlobStoreUnavailable(f"S3 blob store unusable: {self._where()}: {reason}") from error
        except BotoCoreError as error:
            # Unreachable endpoint, timeouts, or no credentials found in the default chain.
            raise BlobStoreUnavailable(f"S3 blob store unusable: {self._where()}: {error}") from error
