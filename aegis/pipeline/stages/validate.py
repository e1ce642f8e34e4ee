"""Validate: decide what the file really is, by its bytes, and refuse what we won't parse."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from aegis import formats
from aegis.config import Settings
from aegis.formats.base import Detection
from aegis.persistence.models import Document
from aegis.pipeline.stage import DocumentView, FileStage
from aegis.pipeline.stages import limits_from


class ValidateStage(FileStage[Detection]):
    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: None) -> Detection:
        return formats.validate(blob, doc.filename, limits_from(settings))

    def save(self, session: Session, document: Document, result: Detection) -> None:
        document.mime = result.mime
        document.family = result.family
