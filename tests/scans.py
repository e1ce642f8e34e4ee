"""Scans made from born-digital PDFs at test time: render, tilt, blur, save as images.

The original's text layer is the ground truth for OCR word recall, so the tests
measure what a user cares about (the words come back) on real documents, with
no binary committed.
"""

from __future__ import annotations

import re
from pathlib import Path

from PIL import Image, ImageFilter

from tests.ocr_samples import save_image_pdf

WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)


def words(text: str) -> set[str]:
    """Lower-cased words of three letters or more: what recall is measured on."""
    return {w.lower() for w in WORD.findall(text)}


def recall(truth: str, found: str) -> float:
    expected = words(truth)
    return len(expected & words(found)) / len(expected) if expected else 1.0


def text_layer(pdf: Path, pages: list[int] | None = None) -> str:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        numbers = pages or list(range(1, len(doc) + 1))
        return "\n".join(doc[n - 1].get_textpage().get_text_range() for n in numbers)
    finally:
        doc.close()


def scan_pages(pdf: Path, pages: list[int], dpi: int = 200, tilt: float = 0.7, blur: float = 0.6) -> list[Image.Image]:
    """Each page as a slightly tilted, slightly blurred grayscale image, like a desk scanner's."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        out = []
        for number in pages:
            image = doc[number - 1].render(scale=dpi / 72).to_pil().convert("L")
            image = image.rotate(tilt, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
            out.append(image.filter(ImageFilter.GaussianBlur(blur)))
        return out
    finally:
        doc.close()


def save_scan_pdf(path: Path, images: list[Image.Image], dpi: int = 200) -> Path:
    """An image-only PDF of ``images`` (the scanner's output), at the resolution they were made."""
    return save_image_pdf(path, images, dpi=dpi)
