"""The blob store on an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Garage, R2).

Uploads stream into a multipart upload under ``<prefix>/.incoming/<uuid>`` while
they are hashed, one part in memory at a time, so a 1 GB upload costs the gateway
one part of memory. Once the digest is known the object is copied server-side to
its content-addressed key ``<prefix>/<tenant>/<sha[:2]>/<sha256>`` (skipped when the
tenant already has those bytes) and the incoming object is deleted. A failed upload
aborts its multipart upload, so no invisible parts are left to bill.

Credentials come from boto3's standard chain (environment, profile, web identity /
IRSA, instance metadata); errors are mapped to :class:`StorageUnavailable` (worth
retrying) or :class:`StorageMisconfigured` (a person must act).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aegis.persistence.storage import (
    CHUNK,
    BlobMissing,
    BlobStore,
    Incoming,
    StorageError,
    StorageMisconfigured,
    StorageUnavailable,
    check_key_parts,
)

if TYPE_CHECKING:
    from aegis.config import StorageSettings

# S3's minimum part size is 5 MiB (except the last); 8 MiB is what boto3's own transfer uses.
PART_SIZE = 8 * 1024 * 1024
INCOMING = ".incoming"
_COPY = TransferConfig(multipart_threshold=5 * 1024**3, multipart_chunksize=512 * 1024**2)
_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_REFUSED = frozenset({
    "403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket",
    "AuthorizationHeaderMalformed", "InvalidBucketName", "KMS.NotFoundException", "ExpiredToken",
})


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, what: str) -> StorageError:
    """Our error for a botocore one: missing, refused (configuration) or unavailable (retry)."""
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        if code in _MISSING:
            return BlobMissing(what)
        if code in _REFUSED:
            return StorageMisconfigured(f"the object store refused {what}: {code}")
        return StorageUnavailable(f"the object store failed {what}: {code or exc}")
    return StorageUnavailable(f"the object store is unreachable ({what}): {type(exc).__name__}")


class S3BlobStore(BlobStore):
    def __init__(self, settings: StorageSettings, temp_dir: Path) -> None:
        assert settings.bucket is not None
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.temp_dir = temp_dir
        self._endpoint = settings.s3_endpoint_url
        self._extra: dict[str, str] = {}
        if settings.s3_sse:
            self._extra["ServerSideEncryption"] = settings.s3_sse
            if settings.s3_kms_key_id:
                self._extra["SSEKMSKeyId"] = settings.s3_kms_key_id
        config = Config(
            s3={"addressing_style": settings.s3_addressing_style},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        self.client: Any = _session(os.getpid()).client("s3", endpoint_url=self._endpoint, config=config)

    @property
    def location(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where} ({self._endpoint})" if self._endpoint else where

    def key_for(self, tenant_id: str, sha256: str) -> str:
        check_key_parts(tenant_id, sha256)
        return self._key(f"{tenant_id}/{sha256[:2]}/{sha256}")

    def _key(self, rest: str) -> str:
        return f"{self.prefix}/{rest}" if self.prefix else rest

    def incoming(self) -> S3Incoming:
        return S3Incoming(self, self._key(f"{INCOMING}/{uuid.uuid4().hex}"))

    def commit(self, incoming: Incoming, tenant_id: str) -> None:
        if not isinstance(incoming, S3Incoming):
            raise TypeError("an S3 store commits its own incoming blobs")
        incoming.close()
        dest = self.key_for(tenant_id, incoming.sha256)
        try:
            if not self.exists(tenant_id, incoming.sha256):
                # One CopyObject request up to S3's 5 GiB limit; boto3's managed copy goes
                # multipart (server-side, in large parts) only above it.
                self.client.copy(
                    {"Bucket": self.bucket, "Key": incoming.key}, self.bucket, dest, ExtraArgs=dict(self._extra),
                    Config=_COPY,
                )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"storing {dest}") from exc
        incoming.discard()

    def exists(self, tenant_id: str, sha256: str) -> bool:
        key = self.key_for(tenant_id, sha256)
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except (ClientError, BotoCoreError) as exc:
            error = translate(exc, f"reading {key}")
            if isinstance(error, BlobMissing):
                return False
            raise error from exc

    def delete(self, tenant_id: str, sha256: str) -> None:
        key = self.key_for(tenant_id, sha256)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"deleting {key}") from exc

    def open(self, tenant_id: str, sha256: str) -> BinaryIO:
        key = self.key_for(tenant_id, sha256)
        try:
            reply = self.client.get_object(Bucket=self.bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"reading {key}") from exc
        return cast(BinaryIO, _Body(reply["Body"], key))

    def iter_blobs(self) -> Iterator[tuple[str, str]]:
        start = self._key("")
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    parts = item["Key"][len(start):].split("/")
                    if len(parts) == 3 and not parts[0].startswith(".") and parts[2][:2] == parts[1]:
                        yield parts[0], parts[2]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, f"listing {self.location}") from exc

    def check(self) -> None:
        """The bucket exists and these credentials may list and write under the prefix."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(""), MaxKeys=1)
        except (ClientError, BotoCoreError) as exc:
            error = translate(exc, f"access to {self.location}")
            if isinstance(error, BlobMissing):  # HEAD on a bucket has no body: a bare 404
                error = StorageMisconfigured(f"the bucket {self.bucket!r} does not exist")
            raise error from exc


@functools.lru_cache(maxsize=1)
def _session(_pid: int) -> boto3.session.Session:
    """One boto3 session per process: it caches the service models every client loads
    (most of a client's cost); clients are made per store, never shared across a fork."""
    return boto3.session.Session()


class _Body:
    """A ``get_object`` body whose read errors are ours (a stalled or cut download)."""

    def __init__(self, body: Any, key: str) -> None:
        self._body = body
        self._key = key

    def read(self, size: int = -1) -> bytes:
        try:
            return cast(bytes, self._body.read(size if size >= 0 else None))
        except (ClientError, BotoCoreError, OSError) as exc:
            raise translate(exc, f"reading {self._key}") from exc

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> _Body:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class S3Incoming:
    """An upload being written: parts go to S3 as they fill, the digest grows as bytes pass.

    Nothing is sent until a part is full, so a small file is one ``put_object`` and a
    large one a multipart upload; either way only ``PART_SIZE`` bytes are held.
    """

    def __init__(self, store: S3BlobStore, key: str) -> None:
        self._store = store
        self.key = key
        self._hash = hashlib.sha256()
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._closed = False
        self._written = False  # an object exists under ``key``
        self.size = 0

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def write(self, data: bytes) -> int:
        if self._closed:
            raise ValueError("write to a closed incoming blob")
        self._hash.update(data)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) >= PART_SIZE:
            self._send_part(bytes(self._buffer[:PART_SIZE]))
            del self._buffer[:PART_SIZE]
        return len(data)

    def seek(self, *args: int) -> int:
        # Werkzeug rewinds every part once it is written, to hand it to views as a readable
        # file; ours are never read back through this object, so there is nothing to move.
        if args and args[0] not in (0, self.size):
            raise OSError("incoming blobs cannot seek")
        return args[0] if args else self.size

    def tell(self) -> int:
        return self.size

    def read(self, *args: int) -> bytes:
        raise OSError("incoming blobs are write-only")

    def flush(self) -> None:
        pass

    def _call(self, what: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._store.client, method)(Bucket=self._store.bucket, Key=self.key, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, what) from exc

    def _send_part(self, data: bytes) -> None:
        if self._upload_id is None:
            reply = self._call("starting an upload", "create_multipart_upload", **self._store._extra)
            self._upload_id = reply["UploadId"]
        number = len(self._parts) + 1
        reply = self._call("uploading a part", "upload_part", UploadId=self._upload_id, PartNumber=number, Body=data)
        self._parts.append({"PartNumber": number, "ETag": reply["ETag"]})

    def close(self) -> None:
        """Finish the object (last part, or a single put for a small file)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._upload_id is None:
                self._call("storing an upload", "put_object", Body=bytes(self._buffer), **self._store._extra)
            else:
                if self._buffer or not self._parts:
                    self._send_part(bytes(self._buffer))
                self._call(
                    "finishing an upload", "complete_multipart_upload",
                    UploadId=self._upload_id, MultipartUpload={"Parts": self._parts},
                )
                self._upload_id = None
            self._written = True
        except BaseException:
            try:
                self.discard()
            except StorageError:
                pass  # the store is down: the bucket's lifecycle rule aborts what is left (docs/storage.md)
            raise
        finally:
            self._buffer = bytearray()

    @contextmanager
    def spooled(self) -> Iterator[Path]:
        self.close()
        folder = self._store.temp_dir
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                reply = self._call("reading an upload", "get_object")
                with _Body(reply["Body"], self.key) as body:
                    while data := body.read(CHUNK):
                        out.write(data)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Abort the multipart upload or delete the finished incoming object."""
        self._closed = True
        self._buffer = bytearray()
        upload_id, self._upload_id = self._upload_id, None
        written, self._written = self._written, False
        if upload_id is not None:
            self._call("aborting an upload", "abort_multipart_upload", UploadId=upload_id)
        if written:
            self._call("removing an upload", "delete_object")
