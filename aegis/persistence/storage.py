"""Content-addressed blob store on the shared volume.

Blobs live at ``<root>/<tenant>/<sha[:2]>/<sha256>``: the same bytes uploaded twice
by one tenant are stored once, and deleting a tenant's document never touches
another tenant's files. Writes go to a temporary file in the same folder tree and
are renamed into place, so a crash never leaves a half-written blob under its name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


class TooLarge(Exception):
    """The stream went past the size limit while being written."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, tenant_id: str, sha256: str) -> Path:
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        if not tenant_id or "/" in tenant_id or tenant_id.startswith("."):
            raise ValueError("bad tenant id")
        return self.root / tenant_id / sha256[:2] / sha256

    def incoming(self) -> IncomingBlob:
        """A writable temporary blob that hashes what is written to it."""
        tmp_dir = self.root / ".incoming"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return IncomingBlob(tmp_dir)

    def commit(self, incoming: IncomingBlob, tenant_id: str) -> Path:
        """Move a finished upload into place under its hash."""
        incoming.close()
        dest = self.path_for(tenant_id, incoming.sha256)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(incoming.path, dest)
        return dest

    def put_stream(self, stream: BinaryIO, tenant_id: str, max_bytes: int) -> tuple[Path, str, int]:
        """Copy a stream into the store; returns (path, sha256, size)."""
        blob = self.incoming()
        try:
            while True:
                data = stream.read(CHUNK)
                if not data:
                    break
                blob.write(data)
                if blob.size > max_bytes:
                    raise TooLarge(blob.size)
            path = self.commit(blob, tenant_id)
            return path, blob.sha256, blob.size
        except BaseException:
            blob.discard()
            raise

    def delete(self, tenant_id: str, sha256: str) -> None:
        try:
            self.path_for(tenant_id, sha256).unlink()
        except FileNotFoundError:
            pass


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

    def recompute(self) -> None:
        """Hash a file that something else wrote at ``self.path`` (e.g. a decrypted copy)."""
        self.close()
        self._hash = hashlib.sha256()
        self.size = 0
        with open(self.path, "rb") as fh:
            while data := fh.read(CHUNK):
                self._hash.update(data)
                self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def discard(self) -> None:
        self.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
