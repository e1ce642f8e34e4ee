"""Metadata: normalised document properties plus per-format detail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from aegis import formats
from aegis.config import Settings
from aegis.formats.base import Detection
from aegis.persistence.models import Document
from aegis.pipeline.stage import DocumentView, FileStage
from aegis.pipeline.stages import limits_from

# Every document carries these keys (null when the format or file lacks them), so
# clients never need to guess whether a key is missing or unknown.
NORMALISED_KEYS = ("pages", "encrypted", "title", "author", "subject", "keywords", "creator",
                   "producer", "created_at", "modified_at", "language")


def detection_of(doc: DocumentView) -> Detection:
    extension = Path(doc.filename).suffix.lower().lstrip(".")
    return Detection(mime=doc.mime or "", family=doc.family or "", extension=extension)


class MetadataStage(FileStage[dict[str, Any]]):
    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: None) -> dict[str, Any]:
        return formats.extract_metadata(blob, detection_of(doc), limits_from(settings))

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
