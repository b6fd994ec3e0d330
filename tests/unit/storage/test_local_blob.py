import pytest

from spyglass.storage.blob.local import LocalBlobStore


def test_blob_keys_cannot_leave_the_store(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    store.put("ingest/p/a.json", b"x")
    assert store.get("ingest/p/a.json") == b"x"
    assert store.list_prefix("ingest/") == ["ingest/p/a.json"]
    for key in ("../escape", "/abs", "a//b", "a/./b", ""):
        with pytest.raises(ValueError):
            store.put(key, b"x")
