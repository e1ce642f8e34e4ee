"""Uploads stream straight into the blob store while being hashed.

Werkzeug asks the request for a file object per multipart file part; we hand it
the store's incoming blob (a file in the volume's own folder, or a multipart
upload to the bucket), so the bytes are written once, to the right place, and
never held whole in memory.
"""

from __future__ import annotations

import logging
from typing import IO, Any

from flask import Request, g

from aegis.persistence.storage import Incoming, IncomingBlob, StorageError
from web.context import blob_store


class StreamingRequest(Request):
    def _get_file_stream(
        self, total_content_length: int | None, content_type: str | None,
        filename: str | None = None, content_length: int | None = None,
    ) -> IO[bytes]:
        blob = blob_store().incoming()
        g.setdefault("incoming_blobs", []).append(blob)
        return blob  # type: ignore[return-value]


log = logging.getLogger("aegis.gateway")


def discard_leftovers(_exc: Any = None) -> None:
    """Remove parts that were not committed (errors, duplicates, disconnects); commits made them no-ops."""
    for blob in g.pop("incoming_blobs", []):
        try:
            blob.discard()
        except StorageError as exc:
            # The bucket's lifecycle rule removes what an outage leaves (docs/storage.md).
            log.warning("could not remove an uncommitted upload: %s", exc)


def incoming_of(file_storage: Any) -> Incoming:
    from aegis.persistence.s3 import S3Incoming

    stream = file_storage.stream
    if not isinstance(stream, IncomingBlob | S3Incoming):
        raise TypeError("upload was not streamed to storage")
    return stream
