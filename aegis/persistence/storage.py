"""Content-addressed blob stores: a shared volume, or an S3-compatible bucket.

Blobs live at ``<root>/<tenant>/<sha[:2]>/<sha256>``: the same bytes uploaded twice
by one tenant are stored once, and deleting a tenant's document never touches
another tenant's bytes. Both stores write through an *incoming* blob that hashes
while it is written and only takes its final name once complete (a rename on the
volume, a server-side copy in a bucket), so a crash never leaves a half-written blob
under its name.

Readers that need a file on disk (every parser) ask for :meth:`BlobStore.local_copy`:
the volume hands out the stored path itself; a bucket is read into a temporary file
under the temp folder that is deleted when the ``with`` block ends, whatever the
outcome. :func:`clean_stale_temporaries` removes what a killed process left there.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from aegis.config import Settings, StorageSettings

CHUNK = 1024 * 1024
# Names of the temporaries this module creates; the stale-file sweep touches nothing else.
TEMP_PREFIXES = ("blob-", "upload-")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class TooLarge(Exception):
    """The stream went past the size limit while being written."""


class StorageError(Exception):
    """Base of the errors a blob store raises."""


class BlobMissing(StorageError):
    """No blob is stored under that tenant and digest."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or refused service for now (network, 5xx, throttling).

    Transient by definition: a stage retries later, the gateway answers 503.
    """

    def __init__(self, message: str, retry_after: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageMisconfigured(StorageError):
    """The store answers but refuses us (no such bucket, credentials rejected)."""


def check_key_parts(tenant_id: str, sha256: str) -> None:
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    if not tenant_id or "/" in tenant_id or tenant_id.startswith("."):
        raise ValueError("bad tenant id")


class Incoming(Protocol):
    """A blob being written: file-like for Werkzeug (``write``), hashing as it goes."""

    size: int

    @property
    def sha256(self) -> str: ...

    def write(self, data: bytes) -> int: ...

    def seek(self, *args: int) -> int: ...

    def tell(self) -> int: ...

    def read(self, *args: int) -> bytes: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None:
        """Remove whatever was written; safe to call twice, and after a commit (then a no-op)."""

    def spooled(self) -> AbstractContextManager[Path]:
        """A context manager yielding the finished bytes as a local file (to sniff or decrypt)."""


class BlobStore(ABC):
    """What the gateway, the workers and the CLI need from a blob store."""

    #: Where temporaries (local copies of blobs) are written.
    temp_dir: Path

    @property
    @abstractmethod
    def location(self) -> str:
        """A URL that names the store in logs, ``/ready`` and errors (never a secret)."""

    @abstractmethod
    def incoming(self) -> Incoming:
        """A writable blob that hashes what is written to it."""

    @abstractmethod
    def commit(self, incoming: Incoming, tenant_id: str) -> None:
        """Give a finished incoming blob its content-addressed name (a no-op if already stored)."""

    @abstractmethod
    def exists(self, tenant_id: str, sha256: str) -> bool: ...

    @abstractmethod
    def delete(self, tenant_id: str, sha256: str) -> None:
        """Remove the blob; a blob already gone is not an error."""

    @abstractmethod
    def open(self, tenant_id: str, sha256: str) -> BinaryIO:
        """A readable stream of the blob (raises :class:`BlobMissing`)."""

    @abstractmethod
    def iter_blobs(self) -> Iterator[tuple[str, str]]:
        """Every stored blob as ``(tenant_id, sha256)``."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`StorageError` unless the store is reachable and accepts us."""

    @contextmanager
    def local_copy(self, tenant_id: str, sha256: str) -> Iterator[Path]:
        """The blob as a local file for the length of the block, removed afterwards."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.temp_dir, prefix="blob-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out, self.open(tenant_id, sha256) as source:
                while data := source.read(CHUNK):
                    out.write(data)
            yield path
        finally:
            path.unlink(missing_ok=True)

    def put_stream(self, stream: BinaryIO, tenant_id: str, max_bytes: int) -> tuple[str, int]:
        """Copy a stream into the store; returns ``(sha256, size)``."""
        blob = self.incoming()
        try:
            while data := stream.read(CHUNK):
                blob.write(data)
                if blob.size > max_bytes:
                    raise TooLarge(blob.size)
            blob.close()
            self.commit(blob, tenant_id)
            return blob.sha256, blob.size
        finally:
            blob.discard()


class VolumeBlobStore(BlobStore):
    """Blobs as files under ``root`` (a local folder or a ReadWriteMany volume)."""

    def __init__(self, root: Path, temp_dir: Path | None = None) -> None:
        self.root = root
        self.temp_dir = temp_dir or root / ".incoming"

    @property
    def location(self) -> str:
        return self.root.resolve().as_uri()

    def path_for(self, tenant_id: str, sha256: str) -> Path:
        check_key_parts(tenant_id, sha256)
        return self.root / tenant_id / sha256[:2] / sha256

    def incoming(self) -> IncomingBlob:
        # In the store's own tree, so committing is a rename on the same file system.
        tmp_dir = self.root / ".incoming"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return IncomingBlob(tmp_dir)

    def commit(self, incoming: Incoming, tenant_id: str) -> None:
        if not isinstance(incoming, IncomingBlob):
            raise TypeError("a volume store commits its own incoming blobs")
        incoming.close()
        dest = self.path_for(tenant_id, incoming.sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming.path, dest)

    def exists(self, tenant_id: str, sha256: str) -> bool:
        return self.path_for(tenant_id, sha256).is_file()

    def delete(self, tenant_id: str, sha256: str) -> None:
        self.path_for(tenant_id, sha256).unlink(missing_ok=True)

    def open(self, tenant_id: str, sha256: str) -> BinaryIO:
        try:
            return self.path_for(tenant_id, sha256).open("rb")
        except FileNotFoundError:
            raise BlobMissing(f"{tenant_id}/{sha256}") from None

    @contextmanager
    def local_copy(self, tenant_id: str, sha256: str) -> Iterator[Path]:
        # Already a local file: no copy to make or remove.
        path = self.path_for(tenant_id, sha256)
        if not path.is_file():
            raise BlobMissing(f"{tenant_id}/{sha256}")
        yield path

    def iter_blobs(self) -> Iterator[tuple[str, str]]:
        if not self.root.is_dir():
            return
        for tenant in sorted(self.root.iterdir()):
            if tenant.name.startswith(".") or not tenant.is_dir():
                continue
            for shard in sorted(tenant.iterdir()):
                if not shard.is_dir():
                    continue
                for blob in sorted(shard.iterdir()):
                    if _SHA256.fullmatch(blob.name) and blob.name[:2] == shard.name and blob.is_file():
                        yield tenant.name, blob.name

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageMisconfigured(f"{self.root} is not writable")


class IncomingBlob:
    """A temp file that hashes while it is written (file-like: ``write``)."""

    def __init__(self, folder: Path) -> None:
        fd, name = tempfile.mkstemp(dir=folder, prefix="upload-")
        self._file = os.fdopen(fd, "wb")
        self.path = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        return self._file.write(data)

    def seek(self, *args: int) -> int:  # werkzeug may rewind an empty part
        return self._file.seek(*args)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, *args: int) -> bytes:
        raise OSError("incoming blobs are write-only")

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    @contextmanager
    def spooled(self) -> Iterator[Path]:
        self.close()
        yield self.path

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def clean_stale_temporaries(folder: Path, older_than: float) -> int:
    """Delete this module's temporaries older than ``older_than`` seconds; returns how many.

    Run when a process starts: a worker killed mid-task (OOM, SIGKILL) never reaches
    its ``finally``, and nothing else would ever remove what it was reading. Anything
    younger than the longest task may belong to a live sibling process and is kept.
    """
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for entry in folder.iterdir():
        if not entry.name.startswith(TEMP_PREFIXES):
            continue
        try:
            if entry.is_file() and entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # a sibling removed it first
    return removed


def open_store(settings: Settings) -> BlobStore:
    """The store ``settings`` names (``AEGIS_STORAGE_URL``); nothing is contacted yet.

    One per process and configuration: an SDK client is not free to build, and a
    client made before a fork must not be shared with the child (its sockets would be).
    """
    return _store_for(settings.storage_dir, settings.storage, os.getpid())


@functools.lru_cache(maxsize=8)
def _store_for(storage_dir: Path, storage: StorageSettings, _pid: int) -> BlobStore:
    if storage.bucket is None:
        return VolumeBlobStore(storage_dir, storage.temp_dir)
    from aegis.persistence.s3 import S3BlobStore

    return S3BlobStore(storage, storage.temp_dir)


def prepare_at_start(settings: Settings, log: logging.Logger) -> BlobStore:
    """What every process does with its store when it starts; returns the store.

    Removes temporaries a killed predecessor left, then checks the store. A store that
    refuses us (no bucket, rejected credentials) is a configuration error, raised as
    :class:`StorageMisconfigured` for the entry point to report and exit; one that
    does not answer is only logged: documents wait and ``/ready`` says so until it returns.
    """
    removed = clean_stale_temporaries(settings.storage.temp_dir, max(settings.time_limits.values()))
    if removed:
        log.info("removed %d stale temporary files from %s", removed, settings.storage.temp_dir)
    store = open_store(settings)
    try:
        store.check()
    except StorageUnavailable as exc:
        log.warning("blob store %s is unavailable at start-up: %s", store.location, exc)
    return store
