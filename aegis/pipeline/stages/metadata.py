"""Metadata: normalised document properties plus per-format detail."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aegis import formats
from aegis.config import Settings
from aegis.formats.base import Detection, DocumentError
from aegis.persistence.models import Document, Tenant
from aegis.pipeline.stage import DocumentView, Stage
from aegis.pipeline.stages import limits_from
from aegis.services import limits as quota
from aegis.vocabulary import ErrorCode

log = logging.getLogger("aegis.pipeline.metadata")

# Every document carries these keys (null when the format or file lacks them), so
# clients never need to guess whether a key is missing or unknown.
NORMALISED_KEYS = ("pages", "encrypted", "title", "author", "subject", "keywords", "creator",
                   "producer", "created_at", "modified_at", "language")


def detection_of(doc: DocumentView) -> Detection:
    extension = Path(doc.filename).suffix.lower().lstrip(".")
    return Detection(mime=doc.mime or "", family=doc.family or "", extension=extension)


class MetadataStage(Stage[int | None, dict[str, Any]]):
    # The quota comes back with the claim statement itself (the runner's claim returns
    # the tenant's quota columns): no transaction and no second read on the hop.
    loads_from_claim = True

    def load(self, session: Session, document: Document) -> int | None:
        """The tenant's daily page quota: pages are first known here, so they are counted here."""
        return session.scalar(select(Tenant.max_pages_per_day).where(Tenant.id == document.tenant_id))

    def inputs_from_claim(self, claimed: Mapping[str, Any]) -> int | None:
        value = claimed["tenant_max_pages_per_day"]
        return value if value is None else int(value)

    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: int | None) -> dict[str, Any]:
        result = formats.extract_metadata(blob, detection_of(doc), limits_from(settings))
        pages = result.get("pages")
        if inputs is not None and isinstance(pages, int):
            try:
                quota.charge_pages(quota.counters(settings.events_url), doc.tenant_id, inputs, pages)
            except quota.QuotaExceeded as exc:
                # Its own tenant's quota, not the file, is at fault, but the document ends here.
                raise DocumentError(ErrorCode.QUOTA_EXCEEDED, str(exc), rejected=True) from exc
            except Exception as exc:  # noqa: BLE001 - Redis down: process it rather than fail it
                log.warning("page quota not counted: %s", exc, extra={"document_id": doc.id})
        return result

    def save(self, session: Session, document: Document, result: dict[str, Any]) -> None:
        # Keep keys that later stages added (language) if a reprocess re-runs this one.
        previous = document.doc_metadata or {}
        merged: dict[str, Any] = {key: None for key in NORMALISED_KEYS}
        merged.update(result)
        if previous.get("decrypted_with_password"):
            merged["encrypted"] = True
            merged["decrypted_with_password"] = True
        if merged.get("language") is None and previous.get("language"):
            merged["language"] = previous["language"]
        document.doc_metadata = merged
