"""Copy every blob from one store to another (``aegis storage migrate``).

Each blob is streamed from the source into the destination's incoming blob, which
hashes it on the way: only bytes whose digest matches their name are committed, so
a corrupt file on the volume is reported instead of copied. A blob the destination
already has is skipped without reading it (its name is its digest, and commits are
atomic), which makes a second run cheap and an interrupted run resumable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aegis.persistence.storage import CHUNK, BlobStore


@dataclass
class MigrationReport:
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    #: ``tenant/sha256`` of blobs whose bytes do not hash to their name (left out).
    corrupt: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.copied + self.skipped + len(self.corrupt)


def copy_blob(source: BlobStore, dest: BlobStore, tenant_id: str, sha256: str) -> int | None:
    """Copy one blob, verifying its digest; returns its size, or None if it is corrupt."""
    blob = dest.incoming()
    try:
        with source.open(tenant_id, sha256) as stream:
            while data := stream.read(CHUNK):
                blob.write(data)
        blob.close()
        if blob.sha256 != sha256:
            return None
        dest.commit(blob, tenant_id)
        return blob.size
    finally:
        blob.discard()  # a no-op after the commit


def migrate_blobs(
    source: BlobStore, dest: BlobStore, progress: Callable[[str, str, str], None] | None = None
) -> MigrationReport:
    """Copy what ``dest`` lacks; ``progress(tenant, sha256, outcome)`` after each blob."""
    report = MigrationReport()
    for tenant_id, sha256 in source.iter_blobs():
        if dest.exists(tenant_id, sha256):
            report.skipped += 1
            outcome = "skipped"
        else:
            size = copy_blob(source, dest, tenant_id, sha256)
            if size is None:
                report.corrupt.append(f"{tenant_id}/{sha256}")
                outcome = "corrupt"
            else:
                report.copied += 1
                report.bytes_copied += size
                outcome = "copied"
        if progress is not None:
            progress(tenant_id, sha256, outcome)
    return report
