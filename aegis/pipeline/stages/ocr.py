"""OCR: read scans and photos, fanned out in batches of pages across the ocr workers.

``run`` plans cheaply (which pages have no usable text layer) and splits them into
batches of ``AEGIS_OCR_BATCH_PAGES``; each batch renders and reads its pages one
at a time on any ocr worker; ``join`` re-chunks the whole text once the last batch
has ended. A page OCR cannot read does not sink the document: it is recorded on
the page and listed in the document's ``warnings``; only a document whose every
OCR page failed ends ``failed`` with ``ocr_failed``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from sqlalchemy import select
from sqlalchemy.orm import Session

from aegis.config import Settings
from aegis.formats.base import DocumentError, Page
from aegis.ocr import OcrSettings, PageOcr, ocr_batch, pages_to_ocr, split_batches, tesseract_version
from aegis.ocr.render import Kind
from aegis.ocr.settings import Mode
from aegis.persistence.models import Document, PageText
from aegis.pipeline.stage import DocumentView, FanOutPlan, FanOutStage
from aegis.pipeline.stages.content import replace_chunks
from aegis.text.chunking import chunk_pages
from aegis.text.language import detect_language
from aegis.vocabulary import ErrorCode

#: Format families whose pages OCR can read, and how to open them.
KINDS: dict[str, Kind] = {"pdf": "pdf", "image": "image"}
LANGUAGE_SAMPLE_CHARS = 20_000


@dataclass(frozen=True)
class OcrInputs:
    """The document's own OCR options (upload fields), over the installation's."""

    mode: Mode | None
    languages: str | None
    #: Page number → the text layer the content stage read, so planning need not read it again.
    page_text: dict[int, str] = dataclasses.field(default_factory=dict)


def ocr_settings_for(settings: Settings, inputs: OcrInputs) -> OcrSettings:
    base = settings.ocr
    return dataclasses.replace(
        base,
        mode=inputs.mode or base.mode,
        languages=inputs.languages or base.languages,
    )


class OcrStage(FanOutStage[OcrInputs, list[PageOcr]]):
    def load(self, session: Session, document: Document) -> OcrInputs:
        options = document.options or {}
        mode = options.get("ocr")
        page_text: dict[int, str] = {}
        if document.family in KINDS:
            rows = session.execute(select(PageText.number, PageText.text).where(PageText.document_id == document.id))
            page_text = {number: text for number, text in rows}
        return OcrInputs(
            mode=mode if mode in get_args(Mode) else None, languages=options.get("ocr_languages") or None,
            page_text=page_text,
        )

    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: OcrInputs) -> FanOutPlan:
        ocr = ocr_settings_for(settings, inputs)
        kind = KINDS.get(doc.family or "")
        if kind is None or ocr.mode == "off":
            return FanOutPlan(batches=[], detail={})
        pages = pages_to_ocr(blob, kind, ocr, max_pages=settings.max_pages, known_text=inputs.page_text)
        return FanOutPlan(
            batches=split_batches(pages, ocr.batch_pages),
            detail={"mode": ocr.mode, "languages": ocr.language_list},
        )

    def save(self, session: Session, document: Document, result: FanOutPlan) -> None:
        metadata = dict(document.doc_metadata or {})
        metadata["ocr"] = {"pages": result.units, **result.detail} if result.batches else {"pages": 0}
        document.doc_metadata = metadata

    def run_batch(self, settings: Settings, doc: DocumentView, blob: Path, units: list[int]) -> list[PageOcr]:
        kind = KINDS[doc.family or ""]
        options = (doc.metadata or {}).get("ocr") or {}
        ocr = settings.ocr
        if options.get("languages"):
            ocr = dataclasses.replace(ocr, languages="+".join(options["languages"]))
        return ocr_batch(blob, kind, units, ocr)

    def save_batch(self, session: Session, document: Document, units: list[int], result: list[PageOcr]) -> None:
        rows = _page_rows(session, document, units)
        for page in result:
            row = rows.get(page.number) or _new_row(session, document, page.number)
            if page.ok:
                row.text = page.text
                row.ocr = True
                row.ocr_confidence = page.confidence
                row.ocr_error = None
                row.ocr_layer = page.layer
            else:
                row.ocr = False
                row.ocr_confidence = None
                row.ocr_error = page.error

    def fail_batch(self, session: Session, document: Document, units: list[int], code: str) -> None:
        rows = _page_rows(session, document, units)
        for number in units:
            row = rows.get(number) or _new_row(session, document, number)
            row.ocr = False
            row.ocr_confidence = None
            row.ocr_error = code

    def join(self, settings: Settings, session: Session, document: Document) -> None:
        pages = list(session.scalars(
            select(PageText).where(PageText.document_id == document.id).order_by(PageText.number)
        ))
        read = [p for p in pages if p.ocr]
        failed = [p for p in pages if p.ocr_error]
        if failed and not read:
            raise DocumentError(
                ErrorCode.OCR_FAILED, f"OCR could not read any of the document's {len(failed)} scanned pages."
            )
        document.warnings = [
            {"code": ErrorCode.OCR_ERROR, "page": p.number, "reason": p.ocr_error,
             "message": f"Page {p.number} could not be read by OCR ({p.ocr_error})."}
            for p in failed
        ] or None
        metadata = dict(document.doc_metadata or {})
        confidences = [p.ocr_confidence for p in read if p.ocr_confidence is not None]
        metadata["ocr"] = {
            **(metadata.get("ocr") or {}),
            "pages": len(read),
            "failed_pages": len(failed),
            "engine": tesseract_version(),
            "mean_confidence": round(sum(confidences) / len(confidences), 1) if confidences else None,
        }
        text = [Page(number=p.number, text=p.text) for p in pages]
        if not metadata.get("language"):
            metadata["language"] = detect_language("\n".join(p.text for p in text)[:LANGUAGE_SAMPLE_CHARS])
        document.doc_metadata = metadata
        # Chunks were cut from the text layer alone: cut them again from the whole text.
        replace_chunks(session, document, chunk_pages(text, settings.chunk_chars, settings.chunk_overlap))


def _page_rows(session: Session, document: Document, numbers: list[int]) -> dict[int, PageText]:
    rows = session.scalars(
        select(PageText).where(PageText.document_id == document.id, PageText.number.in_(numbers))
    )
    return {row.number: row for row in rows}


def _new_row(session: Session, document: Document, number: int) -> PageText:
    row = PageText(document_id=document.id, number=number, text="")
    session.add(row)
    return row

