"""What media needs from the blob stores: streamed puts, streamed reads, and (S3) presigned URLs
the SDK can PUT to and GET from without credentials (media-contract.md, "Scale-out")."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import tempfile
import threading
from pathlib import Path
from typing import BinaryIO
from urllib.parse import parse_qsl, unquote, urlsplit

import boto3.session
import httpx
import pytest
from tests.support.s3 import MotoS3Server

from spyglass.storage.blob.base import BlobStore
from spyglass.storage.blob.local import LocalBlobStore
from spyglass.storage.blob.s3 import S3BlobStore

KEY = "media/project-a/q83vEjRWeJq83vEjRWeJq8.png"
PREFIX = "tenant-a/blobs/"
SPOOL_BYTES = 8 << 20  # the web route spools upload bodies up to this size in memory


@pytest.fixture(params=["local", "s3", "s3-prefixed"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    make = request.getfixturevalue("make_s3_store")
    return make(PREFIX if request.param == "s3-prefixed" else "")


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def read_all(stream: BinaryIO, chunk: int = 65536) -> bytes:
    with stream:
        return b"".join(iter(lambda: stream.read(chunk), b""))


def raw_client(moto_s3: MotoS3Server):  # noqa: ANN201
    return boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test").client(
        "s3", endpoint_url=moto_s3.endpoint_url, region_name="us-east-1"
    )


def raw_keys(moto_s3: MotoS3Server, bucket: str) -> list[str]:
    """What is really in the bucket, bypassing the store under test."""
    return sorted(item["Key"] for item in raw_client(moto_s3).list_objects_v2(Bucket=bucket).get("Contents", ()))


class FailingSource(io.RawIOBase):
    """A body that yields `good` bytes and then fails, like a client that disconnects mid-upload."""

    def __init__(self, good: bytes) -> None:
        self._good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._good.read(size)
        if not data:
            raise ConnectionResetError("client went away")
        return data


class PausingSource(io.RawIOBase):
    """A body that yields `first`, waits for `resume`, then yields `rest`."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        self._parts = [first, rest]
        self.started = threading.Event()
        self.resume = threading.Event()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if not self._parts:
            return b""
        if len(self._parts) == 1:
            self.started.set()
            assert self.resume.wait(30)
        return self._parts.pop(0)


# -- every store ------------------------------------------------------------------------------------------


def test_put_file_from_a_small_stream_round_trips(store):
    data = bytes(range(256)) * 3 + b"\x00end"
    store.put_file(KEY, io.BytesIO(data))
    assert store.get(KEY) == data
    assert read_all(store.open(KEY)) == data
    assert store.list_prefix("media/project-a/") == [KEY]


def test_put_file_reads_from_the_current_position(store):
    source = io.BytesIO(b"skip-this|keep this")
    source.seek(len(b"skip-this|"))
    store.put_file(KEY, source)
    assert store.get(KEY) == b"keep this"


def test_put_file_of_a_large_spooled_upload_round_trips(store):
    data = os.urandom(SPOOL_BYTES + 3 * 1024 * 1024 + 11)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
        for start in range(0, len(data), 1 << 20):
            body.write(data[start:start + (1 << 20)])
        assert body._rolled  # spilled to disk, as the web route's body does for large uploads
        body.seek(0)
        store.put_file(KEY, body)
    assert hashlib.sha256(store.get(KEY)).digest() == hashlib.sha256(data).digest()
    assert len(store.get(KEY)) == len(data)
    with store.open(KEY) as stream:
        assert stream.read(10) == data[:10]
        assert stream.read() == data[10:]


def test_put_file_of_a_small_spooled_upload_round_trips(store):
    data = os.urandom(4096)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
        body.write(data)
        assert not body._rolled
        body.seek(0)
        store.put_file(KEY, body)
    assert store.get(KEY) == data


def test_put_file_overwrites_and_an_empty_stream_stores_an_empty_blob(store):
    store.put_file(KEY, io.BytesIO(b"first, longer version"))
    store.put_file(KEY, io.BytesIO(b"second"))
    assert store.get(KEY) == b"second"
    store.put_file("media/project-a/empty.bin", io.BytesIO(b""))
    assert store.get("media/project-a/empty.bin") == b""
    assert read_all(store.open("media/project-a/empty.bin")) == b""
    assert store.list_prefix("media/") == ["media/project-a/empty.bin", KEY]


def test_put_and_put_file_store_the_same_thing(store):
    data = os.urandom(100_000)
    store.put("media/p/one.bin", data)
    store.put_file("media/p/two.bin", io.BytesIO(data))
    assert store.get("media/p/one.bin") == store.get("media/p/two.bin") == data
    assert read_all(store.open("media/p/one.bin")) == data


def test_open_of_a_missing_key_raises_key_error_naming_it(store):
    with pytest.raises(KeyError) as excinfo:
        store.open("media/project-a/missing.png")
    assert excinfo.value.args == ("media/project-a/missing.png",)
    store.put(KEY, b"x")
    store.delete(KEY)
    with pytest.raises(KeyError) as excinfo:
        store.open(KEY)
    assert excinfo.value.args == (KEY,)


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "media/../x", "media//x", "media/./x", "media/"])
def test_put_file_and_open_reject_invalid_keys(store, key):
    with pytest.raises(ValueError):
        store.put_file(key, io.BytesIO(b"x"))
    with pytest.raises(ValueError):
        store.open(key)
    assert store.list_prefix("") == []


def test_a_put_file_whose_source_fails_stores_nothing(store):
    with pytest.raises(ConnectionResetError):
        store.put_file(KEY, FailingSource(b"partial" * 1000))
    with pytest.raises(KeyError):
        store.get(KEY)
    assert store.list_prefix("") == []


def test_a_failed_put_file_keeps_the_previous_bytes(store):
    store.put(KEY, b"the original")
    with pytest.raises(ConnectionResetError):
        store.put_file(KEY, FailingSource(b"half of a replacement"))
    assert store.get(KEY) == b"the original"
    assert store.list_prefix("") == [KEY]


def test_media_keys_with_spaces_and_unicode(store):
    key = "media/my projé 日本/abc.png"
    store.put_file(key, io.BytesIO(b"bytes"))
    assert store.get(key) == b"bytes"
    assert read_all(store.open(key)) == b"bytes"
    assert store.list_prefix("media/my projé 日本/") == [key]
    assert store.list_prefix("media/my proj/") == []
    store.delete(key)
    assert store.list_prefix("media/") == []


# -- LocalBlobStore -------------------------------------------------------------------------------------


def files_on_disk(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_local_failed_put_file_leaves_no_file_and_no_temp_file(tmp_path):
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    with pytest.raises(ConnectionResetError, match="client went away"):
        store.put_file(KEY, FailingSource(os.urandom(3 * 1024 * 1024)))
    assert files_on_disk(root) == []
    store.put(KEY, b"old")
    with pytest.raises(ConnectionResetError):
        store.put_file(KEY, FailingSource(b"new"))
    assert files_on_disk(root) == [KEY]
    assert (root / KEY).read_bytes() == b"old"


def test_local_put_in_progress_is_invisible_until_complete(tmp_path):
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    source = PausingSource(b"first half|", b"second half")
    errors: list[BaseException] = []

    def put() -> None:
        try:
            store.put_file(KEY, source)
        except BaseException as error:  # noqa: BLE001 - asserted below
            errors.append(error)

    writer = threading.Thread(target=put)
    writer.start()
    try:
        assert source.started.wait(30)
        on_disk = files_on_disk(root)
        assert len(on_disk) == 1
        temp = Path(on_disk[0])
        assert temp.parent == Path(KEY).parent
        assert temp.name.startswith(".") and temp.name.endswith(".tmp")
        assert store.list_prefix("") == []
        assert store.list_prefix("media/project-a/") == []
        with pytest.raises(KeyError):
            store.get(KEY)
        with pytest.raises(KeyError):
            store.open(KEY)
    finally:
        source.resume.set()
        writer.join(30)
    assert not writer.is_alive()
    assert errors == []
    assert files_on_disk(root) == [KEY]
    assert store.get(KEY) == b"first half|second half"
    assert store.list_prefix("") == [KEY]


def test_local_list_prefix_never_lists_dot_files(tmp_path):
    root = tmp_path / "blobs"
    store = LocalBlobStore(root)
    store.put(KEY, b"kept")
    (root / "media" / "project-a" / ".q83vEjRWeJq83vEjRWeJq8.png.123.456.tmp").write_bytes(b"in progress")
    (root / "media" / ".hidden").write_bytes(b"x")
    assert store.list_prefix("") == [KEY]
    assert store.list_prefix("media/project-a/") == [KEY]
    assert store.list_prefix("media/project-a/.") == []


def test_local_open_streams_the_file(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    data = os.urandom(2 * 1024 * 1024 + 1)
    store.put_file(KEY, io.BytesIO(data))
    stream = store.open(KEY)
    try:
        assert stream.read(1) == data[:1]
        # An open stream keeps its bytes even when the key is deleted meanwhile (POSIX).
        store.delete(KEY)
        assert stream.read() == data[1:]
    finally:
        stream.close()
    with pytest.raises(KeyError):
        store.open(KEY)


# -- S3 presigned URLs (moto over HTTP; moto does not check signatures) -----------------------------------


@pytest.fixture(params=["", PREFIX], ids=["unprefixed", "prefixed"])
def s3(request, make_s3_store) -> S3BlobStore:
    return make_s3_store(request.param)


def sdk_put(url: str, data: bytes, content_type: str) -> httpx.Response:
    """The PUT the Langfuse SDK sends to an upload URL (langfuse/_task_manager/media_manager.py)."""
    headers = {"Content-Type": content_type, "x-ms-blob-type": "BlockBlob", "x-amz-checksum-sha256": sha256_b64(data)}
    return httpx.put(url, headers=headers, content=data, timeout=30)


def test_presigned_put_accepts_the_sdk_upload(s3, moto_s3, bucket):
    data = os.urandom(70_000)
    url = s3.presigned_put(KEY, content_type="image/png", sha256_hash=sha256_b64(data), expires_in=3600)
    response = sdk_put(url, data, "image/png")
    assert response.status_code == 200, response.text
    assert s3.get(KEY) == data
    assert read_all(s3.open(KEY)) == data
    assert s3.list_prefix("media/") == [KEY]
    assert raw_keys(moto_s3, bucket) == [s3.prefix + KEY]
    head = raw_client(moto_s3).head_object(Bucket=bucket, Key=s3.prefix + KEY)
    assert head["ContentType"] == "image/png"
    assert head["ContentLength"] == len(data)


def test_presigned_put_url_is_sigv4_signing_type_and_checksum(s3, bucket):
    data = b"png bytes"
    url = s3.presigned_put(KEY, content_type="image/png", sha256_hash=sha256_b64(data), expires_in=900)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    assert f"{parts.scheme}://{parts.netloc}" == s3.endpoint_url
    assert unquote(parts.path) == f"/{bucket}/{s3.prefix}{KEY}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "900"
    assert query["X-Amz-Credential"].startswith("test/")
    assert query["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")
    assert len(query["X-Amz-Signature"]) == 64
    signed_headers = query["X-Amz-SignedHeaders"].split(";")
    assert {"content-type", "host", "x-amz-checksum-sha256"} <= set(signed_headers)
    lowered = {name.lower() for name in query}
    assert "x-amz-checksum-crc32" not in lowered
    assert "x-amz-sdk-checksum-algorithm" not in lowered
    assert not any(name.startswith("x-amz-checksum-") for name in lowered)
    assert "AWSAccessKeyId" not in query and "Signature" not in query  # not SigV2


def test_presigned_get_downloads_the_bytes(s3, moto_s3, bucket):
    data = os.urandom(50_000)
    s3.put_file(KEY, io.BytesIO(data))
    raw_client(moto_s3).put_object(Bucket=bucket, Key=s3.prefix + "media/project-a/typed.png", Body=data,
                                   ContentType="image/png")
    url = s3.presigned_get(KEY, expires_in=600)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert unquote(parts.path) == f"/{bucket}/{s3.prefix}{KEY}"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "600"
    assert query["X-Amz-SignedHeaders"] == "host"
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == data
    typed = httpx.get(s3.presigned_get("media/project-a/typed.png", expires_in=600), timeout=30)
    assert typed.status_code == 200
    assert typed.headers["content-type"] == "image/png"
    assert typed.content == data


def test_presigned_get_can_name_the_content_type_of_an_untyped_object(s3, moto_s3, bucket):
    # Media the worker stored with `put` has no content type in S3; the URL supplies it.
    data = b"RIFF....WAVEfmt "
    s3.put("media/project-a/inline.wav", data)
    untyped = httpx.get(s3.presigned_get("media/project-a/inline.wav", expires_in=600), timeout=30)
    assert untyped.status_code == 200
    assert untyped.headers["content-type"] != "audio/wav"
    url = s3.presigned_get("media/project-a/inline.wav", expires_in=600, content_type="audio/wav")
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["response-content-type"] == "audio/wav"
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav"
    assert response.content == data


def test_presigned_put_then_get_round_trip_of_a_large_file(s3):
    data = os.urandom(SPOOL_BYTES + 123)
    url = s3.presigned_put(KEY, content_type="video/mp4", sha256_hash=sha256_b64(data), expires_in=3600)
    assert sdk_put(url, data, "video/mp4").status_code == 200
    response = httpx.get(s3.presigned_get(KEY, expires_in=3600), timeout=60)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(data).digest()
    assert response.headers["content-type"] == "video/mp4"


def test_presigned_urls_of_differently_prefixed_stores_point_at_their_own_keys(make_s3_store, moto_s3, bucket):
    plain, prefixed = make_s3_store(), make_s3_store(PREFIX)
    data = b"prefixed upload"
    url = prefixed.presigned_put(KEY, content_type="text/plain", sha256_hash=sha256_b64(data), expires_in=60)
    assert sdk_put(url, data, "text/plain").status_code == 200
    assert raw_keys(moto_s3, bucket) == [PREFIX + KEY]
    assert prefixed.get(KEY) == data
    assert plain.list_prefix("") == [PREFIX + KEY]
    with pytest.raises(KeyError):
        plain.get(KEY)
    assert httpx.get(plain.presigned_get(KEY, expires_in=60), timeout=30).status_code == 404
    assert httpx.get(prefixed.presigned_get(KEY, expires_in=60), timeout=30).content == data


@pytest.mark.parametrize("key", ["", "/abs", "media/../x", "media//x"])
def test_presigned_urls_reject_invalid_keys(s3, key):
    with pytest.raises(ValueError):
        s3.presigned_put(key, content_type="image/png", sha256_hash=sha256_b64(b"x"), expires_in=60)
    with pytest.raises(ValueError):
        s3.presigned_get(key, expires_in=60)
