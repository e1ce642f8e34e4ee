"""Content: text per page, chunked along the document's structure for the AI stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from aegis import formats
from aegis.config import Settings
from aegis.formats.base import Page
from aegis.persistence.models import Chunk, Document, PageText
from aegis.pipeline.stage import DocumentView, FileStage
from aegis.pipeline.stages import limits_from
from aegis.pipeline.stages.metadata import detection_of
from aegis.text.chunking import ChunkSpan, chunk_pages
from aegis.text.language import detect_language

# Enough text to recognise a language; more only costs time.
LANGUAGE_SAMPLE_CHARS = 20_000


@dataclass
class ContentResult:
    pages: list[Page]
    chunks: list[ChunkSpan]
    language: str | None


class ContentStage(FileStage[ContentResult]):
    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: None) -> ContentResult:
        pages = formats.extract_pages(blob, detection_of(doc), limits_from(settings))
        chunks = chunk_pages(pages, settings.chunk_chars, settings.chunk_overlap)
        sample = "\n".join(p.text for p in pages)[:LANGUAGE_SAMPLE_CHARS]
        return ContentResult(pages=pages, chunks=chunks, language=detect_language(sample))

    def save(self, session: Session, document: Document, result: ContentResult) -> None:
        save_content(session, document, result)


def save_content(session: Session, document: Document, result: ContentResult) -> None:
    """Replace, never append: a re-run leaves exactly one copy of each output."""
    session.execute(delete(PageText).where(PageText.document_id == document.id))
    if result.pages:
        # ORM bulk INSERT (one multi-row statement per 1,000 rows), not one ORM
        # object per row with its identity-map bookkeeping and flush.
        session.execute(
            insert(PageText),
            [{"document_id": document.id, "number": p.number, "text": p.text} for p in result.pages],
        )
    replace_chunks(session, document, result.chunks)
    metadata = dict(document.doc_metadata or {})
    metadata["language"] = result.language or metadata.get("language")
    metadata.setdefault("pages", len(result.pages))
    document.doc_metadata = metadata


def replace_chunks(session: Session, document: Document, chunks: list[ChunkSpan]) -> None:
    """The document's chunks become ``chunks`` (content cuts them; OCR cuts them again)."""
    session.execute(delete(Chunk).where(Chunk.document_id == document.id))
    if chunks:
        # A 619-page PDF has ~1,700 chunks: one bulk statement, not 1,700 ORM objects.
        session.execute(
            insert(Chunk),
            [
                {"document_id": document.id, "tenant_id": document.tenant_id, "index": c.index,
                 "page_start": c.page_start, "page_end": c.page_end, "text": c.text}
                for c in chunks
            ],
        )
