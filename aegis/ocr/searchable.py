"""A searchable PDF: the original pages with OCR's invisible text laid over them.

What paperless-ngx users keep as their archive copy. The text layers are the
one-page PDFs Tesseract wrote while reading each page (``textonly_pdf``), so
nothing is read twice; each is scaled onto its page. Images become PDF pages
first, one per frame, at their own resolution.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from aegis.ocr.render import Kind

DEFAULT_IMAGE_DPI = 300


def write_searchable_pdf(source: Path, kind: Kind, layers: Mapping[int, bytes], out: IO[bytes]) -> None:
    """Write ``source`` (a PDF, or an image) with ``layers`` (page number -> text PDF) over its pages."""
    from pypdf import PdfReader, PdfWriter, Transformation

    base = PdfReader(io.BytesIO(_image_pdf(source)) if kind == "image" else source)
    writer = PdfWriter(clone_from=base)
    for number, layer in layers.items():
        if not 1 <= number <= len(writer.pages):
            continue
        page = writer.pages[number - 1]
        text = PdfReader(io.BytesIO(layer)).pages[0]
        sx = float(page.mediabox.width) / float(text.mediabox.width)
        sy = float(page.mediabox.height) / float(text.mediabox.height)
        transform = Transformation().scale(sx, sy).translate(float(page.mediabox.left), float(page.mediabox.bottom))
        page.merge_transformed_page(text, transform, over=True)
    writer.write(out)


def _image_pdf(source: Path) -> bytes:
    """Each frame of the image as a PDF page the size the image says it is."""
    from PIL import Image, ImageOps, ImageSequence

    from aegis.formats.image import register_heif

    register_heif()
    buffer = io.BytesIO()
    with Image.open(source) as image:
        frames = [ImageOps.exif_transpose(f).convert("RGB") for f in ImageSequence.Iterator(image)]
        if image.format != "TIFF":
            frames = frames[:1]  # GIF and WebP: the first frame is the page, as OCR read it
        dpi = image.info.get("dpi", (DEFAULT_IMAGE_DPI, DEFAULT_IMAGE_DPI))[0] or DEFAULT_IMAGE_DPI
        first, *rest = frames
        first.save(buffer, "PDF", resolution=float(dpi), save_all=True, append_images=rest)
    return buffer.getvalue()
