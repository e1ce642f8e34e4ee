"""Uploads stream straight into the blob store while being hashed.

Werkzeug asks the request for a file object per multipart file part; we hand it
an ``IncomingBlob`` in the store's own folder, so the bytes are written once, to
the right disk, and never held whole in memory.
"""

from __future__ import annotations

from typing import IO, Any

from flask import Request, g

from aegis.persistence.storage import IncomingBlob
from web.context import blob_store


class StreamingRequest(Request):
    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> IO[bytes]:
        blob = blob_store().incoming()
        g.setdefault("incoming_blobs", []).append(blob)
        return blob  # type: ignore[return-value]


def discard_leftovers(_exc: Any = None) -> None:
    """Delete temp files of parts that were not committed (errors, duplicates, disconnects)."""
    for blob in g.pop("incoming_blobs", []):
        if blob.path.exists():
            blob.discard()


def incoming_of(file_storage: Any) -> IncomingBlob:
    stream = file_storage.stream
    if not isinstance(stream, IncomingBlob):
        raise TypeError("upload was not streamed to storage")
    return stream
