"""Split the pages to OCR into batches, and OCR one batch page by page.

A batch is the unit of work (and of time limit) of one ``ocr`` task: small
enough to finish in seconds, so N workers share one long scan and a lost worker
costs one batch, not a document. Inside a batch, pages are rendered and read one
at a time and each rendered image is released before the next, so a worker's
memory stays flat whatever the page count.

A page that cannot be read becomes a :class:`PageOcr` with an error code; the
caller decides what a document with unreadable pages becomes. Only problems of
the worker itself (no Tesseract, a missing language) propagate, since every
page would fail the same way and the batch should be retried elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aegis.ocr.engine import recognise
from aegis.ocr.errors import OcrEngineMissing, OcrLanguageMissing, OcrPageError
from aegis.ocr.render import Kind, open_pages
from aegis.ocr.settings import OcrSettings
from aegis.vocabulary import ErrorCode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageOcr:
    """The OCR outcome of one page: text and confidence, or an error code."""

    number: int
    text: str
    confidence: float | None  # mean word confidence 0-100; None if no words or an error
    error: str | None = None  # stable code (ocr_timeout, ocr_page_unreadable, ...) when unreadable
    message: str | None = None
    dpi: int | None = None  # effective resolution the page was read at
    seconds: float = 0.0
    layer: bytes | None = None  # the page's invisible text as a one-page PDF (searchable PDF)

    @property
    def ok(self) -> bool:
        return self.error is None


def split_batches(pages: Sequence[int], batch_pages: int) -> list[list[int]]:
    """Consecutive runs of at most ``batch_pages`` page numbers, in the given order."""
    if batch_pages < 1:
        raise ValueError("batch_pages must be at least 1")
    items = list(pages)
    return [items[i : i + batch_pages] for i in range(0, len(items), batch_pages)]


def ocr_batch(path: Path, kind: Kind, pages: Sequence[int], settings: OcrSettings) -> list[PageOcr]:
    """Render and recognise ``pages`` of ``path`` one at a time, one result per page.

    Raises ``DocumentError`` if the file cannot be opened at all, and
    ``OcrEngineMissing``/``OcrLanguageMissing`` if this worker cannot run OCR.
    """
    results: list[PageOcr] = []
    with open_pages(path, kind, settings) as source:
        for number in pages:
            started = time.perf_counter()
            try:
                rendered = source.render(number)
                try:
                    read = recognise(rendered.image, settings, dpi=rendered.dpi, layer=True)
                finally:
                    rendered.close()
                results.append(
                    PageOcr(
                        number, read.text, read.confidence,
                        dpi=rendered.dpi, seconds=_since(started), layer=read.layer,
                    )
                )
            except (OcrEngineMissing, OcrLanguageMissing):
                raise
            except OcrPageError as exc:
                log.info("OCR of page %s failed: %s (%s)", number, exc.message, exc.code)
                results.append(PageOcr(number, "", None, exc.code, exc.message, seconds=_since(started)))
            except MemoryError:
                results.append(
                    PageOcr(number, "", None, ErrorCode.OCR_PAGE_TOO_LARGE, "The page needs more memory than we allow.")
                )
    return results


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)
