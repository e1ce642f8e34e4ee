"""Which pages need OCR, decided per page and cheaply (nothing is rendered).

The rule is ocrmypdf's ``--skip-text``: a page with a real text layer is never
OCR'd, because OCR would only add a worse copy of text we already have, and
running Tesseract over born-digital documents is the most common way OCR
services waste their hours. What counts as "real" is the difference from a naive
``len(text)``: letters and digits, not the private-use code points, replacement
characters and control codes that fonts without a Unicode map produce, and not
the page number or stray glyph an OCR-less scanner stamps on an image.

A PDF page is then OCR'd when it has too little real text and either holds an
image (the scan) or has no real text at all but draws something (text turned
into vector outlines, glyphs without Unicode). A page that draws nothing is
blank and skipped. Every decision carries its reason so it can be recorded.

Pages are loaded one at a time and closed, so a 300-page scan is never held in
memory; image bytes are not decoded, only counted. The text layer the content
stage already read (``known_text``) settles most pages of a born-digital PDF
without loading them again: only a page whose known text is too short is opened
and inspected, so the rule's outcome is the same, at a fraction of the cost.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegis.formats.base import DocumentError
from aegis.formats.image import open_image, page_count
from aegis.formats.pdf import text_layer
from aegis.ocr.render import Kind, open_pdf
from aegis.ocr.settings import OcrSettings
from aegis.vocabulary import ErrorCode

# How many page objects we inspect per page before deciding from what we saw: enough
# for any scan (one image) and any diagram, bounded for a page with a million paths.
MAX_OBJECTS = 20_000
# Form XObjects nest; images inside forms still count, a few levels down.
MAX_FORM_DEPTH = 4


@dataclass(frozen=True)
class PageDecision:
    """Whether one page needs OCR, and why (the reason is what the stage records)."""

    number: int
    needs_ocr: bool
    reason: str  # text | image | no_text | blank | sparse_text | image_file | always | off
    text_chars: int  # real characters in the page's existing text layer


def real_chars(text: str) -> int:
    """Letters and digits, the characters a text layer that carries meaning is made of.

    Private-use characters (category Co), U+FFFD, controls and whitespace do not
    count; neither does punctuation, so a line of dot leaders is not "text".
    """
    return sum(1 for ch in text if unicodedata.category(ch)[0] in "LN")


def _objects(page: Any) -> tuple[int, int, int]:
    """(images, vector drawings, text objects) on a page, stopping at the first image."""
    import pypdfium2.raw as pdfium_c

    images = drawings = texts = 0
    for seen, obj in enumerate(page.get_objects(max_depth=MAX_FORM_DEPTH)):
        kind = obj.type
        if kind == pdfium_c.FPDF_PAGEOBJ_IMAGE:
            images += 1
            break
        if kind in (pdfium_c.FPDF_PAGEOBJ_PATH, pdfium_c.FPDF_PAGEOBJ_SHADING):
            drawings += 1
        elif kind == pdfium_c.FPDF_PAGEOBJ_TEXT:
            texts += 1
        if seen >= MAX_OBJECTS:
            break
    return images, drawings, texts


def decide_pdf_page(number: int, text: str, images: int, drawings: int, texts: int, min_chars: int) -> PageDecision:
    """The skip-text rule for one page, given what the page holds (pure, for testing)."""
    chars = real_chars(text)
    if chars >= min_chars:
        return PageDecision(number, False, "text", chars)
    if images:
        return PageDecision(number, True, "image", chars)
    if chars == 0 and (drawings or texts):
        return PageDecision(number, True, "no_text", chars)
    if not drawings and not texts:
        return PageDecision(number, False, "blank", chars)
    return PageDecision(number, False, "sparse_text", chars)


def _plan_pdf(
    path: Path, settings: OcrSettings, max_pages: int | None, known_text: Mapping[int, str] | None = None
) -> list[PageDecision]:
    doc = open_pdf(path)
    known = known_text or {}
    try:
        count = len(doc)
        _cap(count, max_pages)
        if settings.mode != "auto":
            return [_forced(n, settings) for n in range(1, count + 1)]
        decisions = []
        for index in range(count):
            chars = real_chars(known.get(index + 1, ""))
            if chars >= settings.min_text_chars:
                # Enough text already read from this page: no need to load it again.
                decisions.append(PageDecision(index + 1, False, "text", chars))
            else:
                decisions.append(_plan_pdf_page(doc, index, settings.min_text_chars))
        return decisions
    finally:
        doc.close()


def _plan_pdf_page(doc: Any, index: int, min_chars: int) -> PageDecision:
    number = index + 1
    try:
        page = doc[index]
    except Exception:  # noqa: BLE001 - a page PDFium cannot load cannot be rendered for OCR either
        return PageDecision(number, False, "unreadable", 0)
    try:
        text = text_layer(page)
        if real_chars(text) >= min_chars:
            return PageDecision(number, False, "text", real_chars(text))
        return decide_pdf_page(number, text, *_objects(page), min_chars)
    except Exception:  # noqa: BLE001 - damaged content: let OCR try what the text layer could not give
        return PageDecision(number, True, "no_text", 0)
    finally:
        page.close()


def _forced(number: int, settings: OcrSettings) -> PageDecision:
    return PageDecision(number, settings.mode == "always", settings.mode, 0)


def _cap(count: int, max_pages: int | None) -> None:
    if max_pages is not None and count > max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The document has {count} pages; the limit is {max_pages}.")


def _plan_image(path: Path, settings: OcrSettings, max_pages: int | None) -> list[PageDecision]:
    with open_image(path, settings.max_image_pixels) as image:
        count = page_count(image)
    _cap(count, max_pages)
    if settings.mode == "off":
        return [_forced(n, settings) for n in range(1, count + 1)]
    return [PageDecision(n, True, "image_file", 0) for n in range(1, count + 1)]


def plan_pages(
    path: Path, kind: Kind, settings: OcrSettings, *, max_pages: int | None = None,
    known_text: Mapping[int, str] | None = None,
) -> list[PageDecision]:
    """One decision per page of ``path`` (a ``pdf`` or an ``image`` file).

    ``known_text``: page number → text layer already extracted (by the content
    stage); a page with enough real text there is decided without being loaded.
    """
    if kind == "pdf":
        return _plan_pdf(path, settings, max_pages, known_text)
    if kind == "image":
        return _plan_image(path, settings, max_pages)
    raise ValueError(f"OCR cannot plan {kind!r} files")


def pages_to_ocr(
    path: Path, kind: Kind, settings: OcrSettings, *, max_pages: int | None = None,
    known_text: Mapping[int, str] | None = None,
) -> list[int]:
    """1-based numbers of the pages that need OCR, in order."""
    decisions = plan_pages(path, kind, settings, max_pages=max_pages, known_text=known_text)
    return [d.number for d in decisions if d.needs_ocr]
