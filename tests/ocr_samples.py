"""Images and PDFs for the OCR tests, drawn at test time (no binaries in the repository).

Text is drawn large with DejaVu Sans (Debian's ``fonts-dejavu-core``, installed by
``.ci/run``) so Tesseract reads it reliably; what a test asserts is that the
words come back, not Tesseract's accuracy on hard material.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any, cast

from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
LINES = ("Quarterly invoice for Northwind", "Payment received with thanks", "Total amount seventy euros")
WORDS = ("quarterly", "invoice", "northwind", "payment", "received", "amount", "seventy")
# A4 at 300 DPI.
A4_300 = (2480, 3508)


def font(size: int = 64) -> ImageFont.FreeTypeFont:
    for path in FONT_PATHS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    raise RuntimeError("DejaVu Sans is missing; install the Debian package fonts-dejavu-core")


def text_page(size: tuple[int, int] = (1240, 1754), lines: tuple[str, ...] = LINES, font_size: int = 64) -> Image.Image:
    """A white page with black lines of text, like a clean scan (mode L)."""
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    face = font(font_size)
    for i, line in enumerate(lines):
        draw.text((size[0] // 12, size[1] // 10 + i * font_size * 2), line, fill=0, font=face)
    return page


def save_image_pdf(path: Path, pages: list[Image.Image], dpi: int = 150) -> Path:
    """An image-only PDF, what a scanner writes: one full-page image per page, no text."""
    first, *rest = pages
    first.save(path, "PDF", resolution=dpi, save_all=True, append_images=rest)
    return path


def save_text_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A born-digital PDF: real text in Helvetica, drawn with pypdf's object model."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    for lines in pages:
        page = writer.add_blank_page(595, 842)
        helvetica = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(helvetica)})}
        )
        ops = ["BT", "/F1 14 Tf", "72 770 Td", "18 TL"]
        ops += [f"({line}) Tj T*" for line in lines]
        ops.append("ET")
        stream = DecodedStreamObject()
        stream.set_data("\n".join(ops).encode("latin-1"))
        page[NameObject("/Contents")] = writer._add_object(stream)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def join_pdfs(path: Path, parts: list[Path]) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for part in parts:
        writer.append(str(part))
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def blank_pdf(path: Path, width: float, height: float) -> Path:
    """One empty page of any size (a huge MediaBox is a hostile input of its own)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width, height)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


def png_bomb(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    # IHDR is the first chunk: 8-byte signature, 4-byte length, 4-byte type, then data.
    ihdr = bytes(data[16:29])
    ihdr = struct.pack(">II", width, height) + ihdr[8:]
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path.write_bytes(bytes(data))
    return path


def tiff_with_corrupt_frame(path: Path, pages: list[Image.Image], corrupt: int) -> Path:
    """A multi-page TIFF whose frame ``corrupt`` (1-based) has garbage in place of its pixels.

    Deflate-compressed, so the garbage fails zlib's checks on decode instead of
    passing as noise; the IFDs stay intact, so the other frames still open.
    """
    first, *rest = pages
    first.save(path, "TIFF", save_all=True, append_images=rest, compression="tiff_adobe_deflate")
    with Image.open(path) as image:
        image.seek(corrupt - 1)
        tags: Any = cast(Any, image).tag_v2  # TiffImageFile's own attribute
        offsets, counts = tags[273], tags[279]
    data = bytearray(path.read_bytes())
    for offset, count in zip(offsets, counts, strict=True):
        data[offset : offset + count] = b"\xff" * count
    path.write_bytes(bytes(data))
    return path


def exif_bytes(
    *, orientation: int | None = None, make: str | None = None, model: str | None = None, taken: str | None = None
) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if taken:
        exif[0x0132] = taken
        exif.get_ifd(0x8769)[0x9003] = taken
        exif.get_ifd(0x8769)[0x9011] = "+02:00"
    return exif.tobytes()
