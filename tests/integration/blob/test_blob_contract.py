"""One contract for every BlobStore: the embedded directory and S3 (moto over real HTTP) behave alike."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import boto3.session
import pytest
from botocore.exceptions import BotoCoreError, ClientError
from tests.support.s3 import MotoS3Server
from tests.support.server import free_port

from spyglass.storage.blob.base import BlobStore
from spyglass.storage.blob.local import LocalBlobStore
from spyglass.storage.blob.s3 import BlobStoreUnavailable


@pytest.fixture(params=["local", "s3", "s3-prefixed"])
def store(request, tmp_path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    make = request.getfixturevalue("make_s3_store")
    return make("tenant-a/blobs/" if request.param == "s3-prefixed" else "")


def raw_keys(moto_s3: MotoS3Server, bucket: str) -> list[str]:
    """What is really in the bucket, bypassing the store under test."""
    client = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test").client(
        "s3", endpoint_url=moto_s3.endpoint_url, region_name="us-east-1"
    )
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", ()))


# --- the contract, for every implementation ---------------------------------------------------------


def test_binary_roundtrip_including_a_large_blob(store):
    every_byte = bytes(range(256)) * 4
    large = os.urandom(8 * 1024 * 1024 + 7)
    store.put("ingest/p1/small.bin", every_byte)
    store.put("ingest/p1/large.bin", large)
    store.put("ingest/p1/empty.bin", b"")
    assert store.get("ingest/p1/small.bin") == every_byte
    assert store.get("ingest/p1/large.bin") == large
    assert store.get("ingest/p1/empty.bin") == b""


def test_put_overwrites(store):
    store.put("k/v.json", b"first version, longer")
    store.put("k/v.json", b"second")
    assert store.get("k/v.json") == b"second"
    assert store.list_prefix("k/") == ["k/v.json"]


def test_get_missing_raises_key_error_naming_the_key(store):
    with pytest.raises(KeyError) as excinfo:
        store.get("ingest/none/such.json")
    assert excinfo.value.args == ("ingest/none/such.json",)


def test_delete_removes_and_is_idempotent(store):
    store.put("d/one", b"1")
    store.put("d/two", b"2")
    store.delete("d/one")
    store.delete("d/one")
    store.delete("d/never-existed")
    with pytest.raises(KeyError):
        store.get("d/one")
    assert store.get("d/two") == b"2"
    assert store.list_prefix("d/") == ["d/two"]


def test_list_prefix_is_sorted_filtered_and_nested(store):
    for key in ("b/2", "a/9", "a/10", "a-x", "a/deep/er/z", "ab/1", "c"):
        store.put(key, key.encode())
    assert store.list_prefix("") == ["a-x", "a/10", "a/9", "a/deep/er/z", "ab/1", "b/2", "c"]
    assert store.list_prefix("a/") == ["a/10", "a/9", "a/deep/er/z"]
    assert store.list_prefix("a") == ["a-x", "a/10", "a/9", "a/deep/er/z", "ab/1"]
    assert store.list_prefix("a/deep/") == ["a/deep/er/z"]
    assert store.list_prefix("zzz") == []
    assert store.get("a/deep/er/z") == b"a/deep/er/z"


def test_list_prefix_returns_every_key_beyond_one_page(store):
    # S3 lists 1000 keys per page; the store must follow the continuation.
    keys = [f"many/{i:05d}" for i in range(1005)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: store.put(key, b"x"), keys))
    assert store.list_prefix("many/") == keys


def test_concurrent_puts_all_land(store):
    # The web threadpool writes through one store from many threads at once.
    payloads = {f"c/{i:03d}": os.urandom(1024 + i) for i in range(64)}
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda item: store.put(*item), payloads.items()))
    assert store.list_prefix("c/") == sorted(payloads)
    assert all(store.get(key) == data for key, data in payloads.items())


@pytest.mark.parametrize("key", ["", "/abs", "../escape", "a/../b", "a//b", "a/./b", "a/", ".", ".."])
def test_invalid_keys_are_rejected(store, key):
    for call in (lambda: store.put(key, b"x"), lambda: store.get(key), lambda: store.delete(key)):
        with pytest.raises(ValueError):
            call()
    assert store.list_prefix("") == []


# --- S3 specifics -------------------------------------------------------------------------------------


def test_store_prefix_is_applied_in_the_bucket_and_hidden_from_callers(make_s3_store, moto_s3, bucket):
    store = make_s3_store("tenant-a/blobs/")
    store.put("ingest/x.json", b"{}")
    assert raw_keys(moto_s3, bucket) == ["tenant-a/blobs/ingest/x.json"]
    assert store.list_prefix("") == ["ingest/x.json"]
    assert store.list_prefix("ingest/") == ["ingest/x.json"]


def test_stores_with_different_prefixes_share_a_bucket_without_seeing_each_other(make_s3_store):
    first, second, unprefixed = make_s3_store("one/"), make_s3_store("two/"), make_s3_store()
    first.put("k", b"from one")
    second.put("k", b"from two")
    assert first.get("k") == b"from one"
    assert second.get("k") == b"from two"
    assert first.list_prefix("") == ["k"]
    assert second.list_prefix("") == ["k"]
    first.delete("k")
    assert second.get("k") == b"from two"
    with pytest.raises(KeyError):
        first.get("k")
    assert unprefixed.list_prefix("") == ["two/k"]


def test_check_passes_on_an_existing_bucket(make_s3_store):
    make_s3_store().check()


def test_check_names_a_missing_bucket(make_s3_store):
    store = make_s3_store(bucket_name="no-such-bucket-here")
    with pytest.raises(BlobStoreUnavailable, match="no-such-bucket-here") as excinfo:
        store.check()
    assert "does not exist" in str(excinfo.value)


def test_check_names_the_bucket_and_endpoint_when_nothing_listens(make_s3_store, bucket):
    endpoint = f"http://127.0.0.1:{free_port()}"
    store = make_s3_store(endpoint_url=endpoint, timeout=1)
    with pytest.raises(BlobStoreUnavailable) as excinfo:
        store.check()
    assert bucket in str(excinfo.value)
    assert endpoint in str(excinfo.value)


def test_put_to_a_stalled_server_raises_and_recovers_after_resume(make_s3_store, moto_s3):
    store = make_s3_store(timeout=1)
    store.put("before/pause", b"kept")
    moto_s3.pause()
    try:
        # A stalled S3 must surface as an error (the caller then must not acknowledge), never hang or pass.
        with pytest.raises((BotoCoreError, ClientError)):
            store.put("during/pause", b"lost")
    finally:
        moto_s3.resume()
    store.put("after/resume", b"stored")
    assert store.get("after/resume") == b"stored"
    assert store.get("before/pause") == b"kept"
