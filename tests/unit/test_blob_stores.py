"""The blob store interface, the same tests against the volume and a real S3 server."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis.config import load_settings
from aegis.persistence.s3 import PART_SIZE, S3BlobStore
from aegis.persistence.storage import (
    BlobMissing,
    BlobStore,
    StorageMisconfigured,
    StorageUnavailable,
    TooLarge,
    VolumeBlobStore,
    clean_stale_temporaries,
    open_store,
)
from tests.s3server import S3Server

TENANT = "tenant-a"
OTHER = "tenant-b"

pytestmark = pytest.mark.usefixtures("aws_env")  # tests/conftest.py


def _settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_TEMP_DIR": str(tmp_path / "tmp"), **env})


@pytest.fixture(params=["volume", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobStore]:
    if request.param == "volume":
        yield open_store(_settings(tmp_path))
        return
    server: S3Server = request.getfixturevalue("s3")
    with server.bucket() as bucket:
        yield open_store(_settings(tmp_path, **server.env(bucket, "blobs")))


def _leftovers(store: BlobStore) -> list[str]:
    """Everything an unfinished upload could have left: temp files, incoming objects, multipart uploads."""
    if isinstance(store, VolumeBlobStore):
        incoming = store.root / ".incoming"
        return [p.name for p in incoming.iterdir()] if incoming.is_dir() else []
    assert isinstance(store, S3BlobStore)
    client = store.client
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=store.bucket).get("Contents", [])]
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])]
    return [k for k in keys if "/.incoming/" in k] + uploads


def _read(store: BlobStore, tenant: str, sha: str) -> bytes:
    with store.open(tenant, sha) as stream:
        return stream.read()


def test_a_stream_is_stored_under_its_digest_and_reads_back(store: BlobStore) -> None:
    data = b"%PDF-1.4 some bytes\n" * 100
    sha, size = store.put_stream(io.BytesIO(data), TENANT, max_bytes=10_000)
    assert (sha, size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.exists(TENANT, sha)
    assert _read(store, TENANT, sha) == data
    with store.local_copy(TENANT, sha) as path:
        assert path.read_bytes() == data
    assert list(store.iter_blobs()) == [(TENANT, sha)]
    assert _leftovers(store) == []


def test_a_blob_larger_than_a_part_is_written_in_parts_and_reads_back(store: BlobStore) -> None:
    data = os.urandom(PART_SIZE + 12345)
    blob = store.incoming()
    for start in range(0, len(data), 1 << 20):
        blob.write(data[start:start + (1 << 20)])
    blob.close()
    store.commit(blob, TENANT)
    sha = hashlib.sha256(data).hexdigest()
    assert blob.sha256 == sha and blob.size == len(data)
    assert _read(store, TENANT, sha) == data
    assert _leftovers(store) == []


def test_the_same_bytes_from_one_tenant_are_stored_once_and_per_tenant_apart(store: BlobStore) -> None:
    data = b"same bytes"
    first, _ = store.put_stream(io.BytesIO(data), TENANT, 100)
    again, _ = store.put_stream(io.BytesIO(data), TENANT, 100)
    other, _ = store.put_stream(io.BytesIO(data), OTHER, 100)
    assert first == again == other
    assert sorted(store.iter_blobs()) == [(TENANT, first), (OTHER, first)]
    store.delete(TENANT, first)
    assert not store.exists(TENANT, first)
    assert _read(store, OTHER, first) == data  # another tenant's copy is untouched
    store.delete(TENANT, first)  # already gone: not an error


def test_a_stream_over_the_limit_leaves_nothing_behind(store: BlobStore) -> None:
    data = os.urandom(PART_SIZE * 2 + 10)  # past the limit only after a part went out
    with pytest.raises(TooLarge):
        store.put_stream(io.BytesIO(data), TENANT, max_bytes=PART_SIZE + 1)
    assert list(store.iter_blobs()) == []
    assert _leftovers(store) == []


def test_a_discarded_upload_leaves_no_object_and_no_incomplete_upload(store: BlobStore) -> None:
    blob = store.incoming()
    blob.write(os.urandom(PART_SIZE + 1))  # one part already sent
    blob.discard()
    blob.discard()  # twice is fine (the gateway's teardown does it after errors)
    closed = store.incoming()
    closed.write(b"finished but never committed")
    closed.close()
    closed.discard()
    assert list(store.iter_blobs()) == []
    assert _leftovers(store) == []


def test_a_missing_blob_is_blob_missing(store: BlobStore) -> None:
    sha = "0" * 64
    assert not store.exists(TENANT, sha)
    with pytest.raises(BlobMissing):
        store.open(TENANT, sha)
    with pytest.raises(BlobMissing), store.local_copy(TENANT, sha):
        pass


def test_a_local_copy_is_removed_whatever_the_block_does(store: BlobStore) -> None:
    sha, _ = store.put_stream(io.BytesIO(b"parse me"), TENANT, 100)
    with pytest.raises(RuntimeError), store.local_copy(TENANT, sha) as path:
        assert path.read_bytes() == b"parse me"
        raise RuntimeError("the parser crashed")
    assert _read(store, TENANT, sha) == b"parse me"  # the stored blob is never what is removed
    temps = list(store.temp_dir.iterdir()) if store.temp_dir.is_dir() else []
    assert [p for p in temps if p.name.startswith("blob-")] == []


def test_a_spooled_upload_is_readable_as_a_local_file(store: BlobStore) -> None:
    blob = store.incoming()
    blob.write(b"sniff these bytes")
    with blob.spooled() as path:
        assert path.read_bytes() == b"sniff these bytes"
    blob.discard()
    assert _leftovers(store) == []


def test_bad_tenant_or_digest_never_becomes_a_key(store: BlobStore) -> None:
    with pytest.raises(ValueError):
        store.exists("../other", "0" * 64)
    with pytest.raises(ValueError):
        store.exists(TENANT, "../../etc/passwd")


def test_a_reachable_store_passes_its_check(store: BlobStore) -> None:
    store.check()


def test_s3_objects_sit_under_prefix_tenant_and_digest_shard(s3: S3Server, tmp_path: Path) -> None:
    with s3.bucket() as bucket:
        store = open_store(_settings(tmp_path, **s3.env(bucket, "aegis/prod")))
        sha, _ = store.put_stream(io.BytesIO(b"where am I"), TENANT, 100)
        assert s3.keys(bucket) == [f"aegis/prod/{TENANT}/{sha[:2]}/{sha}"]
        assert store.location == f"s3://{bucket}/aegis/prod ({s3.endpoint})"


def test_s3_server_side_encryption_is_requested_on_every_object(s3: S3Server, tmp_path: Path) -> None:
    with s3.bucket() as bucket:
        store = open_store(_settings(tmp_path, **s3.env(bucket), AEGIS_S3_SSE="AES256"))
        small, _ = store.put_stream(io.BytesIO(b"secret"), TENANT, 100)
        large, _ = store.put_stream(io.BytesIO(os.urandom(PART_SIZE + 1)), TENANT, 2 * PART_SIZE)
        client = s3.client()
        for sha in (small, large):
            head = client.head_object(Bucket=bucket, Key=f"{TENANT}/{sha[:2]}/{sha}")
            assert head["ServerSideEncryption"] == "AES256"


def test_s3_missing_bucket_is_a_configuration_error(s3: S3Server, tmp_path: Path) -> None:
    store = open_store(_settings(tmp_path, **s3.env("no-such-bucket-here")))
    with pytest.raises(StorageMisconfigured):
        store.check()


def test_s3_server_down_is_unavailable_not_missing(tmp_path: Path) -> None:
    down = S3Server()  # a free port nobody listens on
    store = open_store(_settings(tmp_path, **down.env("aegis-down")))
    with pytest.raises(StorageUnavailable):
        store.check()
    with pytest.raises(StorageUnavailable):
        store.exists(TENANT, "0" * 64)
    blob = store.incoming()
    blob.write(b"small")
    with pytest.raises(StorageUnavailable):
        blob.close()


def test_stale_temporaries_are_removed_and_fresh_ones_kept(tmp_path: Path) -> None:
    old, fresh, other = tmp_path / "blob-old", tmp_path / "upload-fresh", tmp_path / "notes.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    assert clean_stale_temporaries(tmp_path, older_than=600) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "upload-fresh"]
    assert clean_stale_temporaries(tmp_path / "absent", older_than=600) == 0
