"""Render one page at a time to a grayscale image, ready for Tesseract.

Rendering is where OCR spends its memory: an A4 page at 300 DPI is 8.7 million
pixels, a poster or a hostile MediaBox can be billions. So every page is drawn
alone (never a whole document), in grayscale (one byte a pixel, and what
Tesseract binarises from anyway), and scaled down to fit ``max_pixels`` instead
of being refused: a big page is still a page someone wants searchable.

A :class:`PageSource` keeps the document open across the pages of a batch,
because reopening a 300-page PDF for each page costs more than rendering it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aegis.formats.base import DocumentError
from aegis.formats.image import check_frame_size, image_error, open_image, page_count
from aegis.ocr.errors import OcrPageError
from aegis.ocr.settings import OcrSettings
from aegis.vocabulary import ErrorCode

if TYPE_CHECKING:
    from PIL import Image

Kind = Literal["pdf", "image"]

# PDF user space is 1/72 inch.
POINTS_PER_INCH = 72.0
# Below this Tesseract reads nothing useful; a page the pixel cap squeezes further is
# still rendered, but its effective resolution is what gets reported.
_MIN_SIDE = 16
# EXIF orientation -> the transposition that makes the image upright (the same table
# ImageOps.exif_transpose uses; applied to the small grayscale image, not the original).
_ORIENT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
           7: "TRANSVERSE", 8: "ROTATE_90"}  # fmt: skip


@dataclass
class RenderedPage:
    """A page as pixels: grayscale (mode ``L``) and upright."""

    number: int
    image: Image.Image
    dpi: int | None  # effective resolution after any scaling; None when the file does not say
    scaled: bool  # the pixel cap lowered the resolution

    def close(self) -> None:
        self.image.close()


class PageSource(Protocol):
    """An open document whose pages can be rendered one by one."""

    page_count: int

    def render(self, number: int) -> RenderedPage:
        """Render 1-based page ``number``; raises :class:`OcrPageError` for that page alone."""


def fit_scale(width: float, height: float, scale: float, max_pixels: int) -> float:
    """The largest scale <= ``scale`` at which a ``width`` x ``height`` area fits ``max_pixels``."""
    if width <= 0 or height <= 0:
        return scale
    pixels = width * scale * height * scale
    if pixels <= max_pixels:
        return scale
    return math.sqrt(max_pixels / (width * height)) * 0.999  # rounding must not push it back over


def _check_number(number: int, count: int) -> None:
    if not 1 <= number <= count:
        raise OcrPageError(f"Page {number} does not exist; the document has {count}.", code=ErrorCode.OCR_PAGE_MISSING)


def open_pdf(path: Path) -> Any:
    """Open a PDF with PDFium; failures get the codes the PDF family uses.

    OCR works on the file the pipeline stored, which for an encrypted upload is
    the decrypted copy; an encrypted file here means that step was skipped.
    """
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        return pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise DocumentError(ErrorCode.ENCRYPTED, "The PDF is encrypted; OCR needs the decrypted copy.") from exc
        raise DocumentError(ErrorCode.MALFORMED, "The PDF is damaged and cannot be opened for OCR.") from exc


class PdfPages:
    """Pages of a PDF drawn by PDFium at the configured DPI."""

    def __init__(self, path: Path, settings: OcrSettings) -> None:
        self.settings = settings
        self._doc: Any = open_pdf(path)
        self.page_count = len(self._doc)

    def render(self, number: int) -> RenderedPage:
        _check_number(number, self.page_count)
        try:
            page = self._doc[number - 1]
        except Exception as exc:  # noqa: BLE001 - PDFium raises PdfiumError on a page it cannot load
            raise OcrPageError(f"Page {number} of the PDF cannot be loaded.") from exc
        try:
            width, height = page.get_size()
            wanted = self.settings.dpi / POINTS_PER_INCH
            scale = fit_scale(width, height, wanted, self.settings.max_pixels)
            if width * scale < 1 or height * scale < 1:
                raise OcrPageError(f"Page {number} has no area to render.")
            bitmap = page.render(scale=scale, grayscale=True, draw_annots=True)
            try:
                image = bitmap.to_pil()
                # to_pil() shares PDFium's buffer; a copy outlives the bitmap it came from.
                gray = image.convert("L") if image.mode != "L" else image.copy()
            finally:
                bitmap.close()
        except OcrPageError:
            raise
        except MemoryError as exc:
            raise OcrPageError(
                f"Page {number} needs more memory to render than we allow.", code=ErrorCode.OCR_PAGE_TOO_LARGE
            ) from exc
        except Exception as exc:  # noqa: BLE001 - PDFium render failures on damaged content
            raise OcrPageError(f"Page {number} of the PDF cannot be rendered.") from exc
        finally:
            page.close()
        return RenderedPage(number, gray, round(scale * POINTS_PER_INCH), scaled=scale < wanted)

    def close(self) -> None:
        self._doc.close()


class ImagePages:
    """Frames of an image file, decoded one at a time and shrunk to the pixel cap."""

    def __init__(self, image: Image.Image, settings: OcrSettings) -> None:
        self.settings = settings
        self._image = image
        self.page_count = page_count(image)

    def render(self, number: int) -> RenderedPage:
        _check_number(number, self.page_count)
        image = self._image
        try:
            image.seek(number - 1)
            # A TIFF frame declares its own size; the bomb check at open saw only the first.
            check_frame_size(image, self.settings.max_image_pixels)
            orientation = _orientation(image)
            dpi = _image_dpi(image.info.get("dpi"))
            width, height = image.size
            factor = fit_scale(width, height, 1.0, self.settings.max_pixels)
            target = (max(1, math.floor(width * factor)), max(1, math.floor(height * factor)))
            if factor < 1 and image.format in {"JPEG", "MPO"}:
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale without the full-size buffer.
                image.draft("L", target)
            gray = _grayscale(image)
            if gray.size != target and factor < 1:
                from PIL import Image

                resized = gray.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
                gray.close()
                gray = resized
            gray = _upright(gray, orientation)
        except DocumentError as exc:
            raise OcrPageError(
                exc.message, code=ErrorCode.OCR_PAGE_TOO_LARGE if exc.code == ErrorCode.ZIP_BOMB else None
            ) from exc
        except MemoryError as exc:
            raise OcrPageError(
                f"Page {number} needs more memory to decode than we allow.", code=ErrorCode.OCR_PAGE_TOO_LARGE
            ) from exc
        except Exception as exc:  # noqa: BLE001 - decoders raise OSError, ValueError, SyntaxError...
            raise OcrPageError(f"Page {number}: {image_error(exc).message}") from exc
        effective = round(dpi * factor) if dpi else None
        return RenderedPage(number, gray, effective, scaled=factor < 1)

    def close(self) -> None:
        self._image.close()


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block means "as stored"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _image_dpi(value: Any) -> int | None:
    """The file's horizontal resolution if plausible for paper; 72 and 96 are screen defaults, not facts."""
    try:
        dpi = round(float(value[0]))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return dpi if 100 <= dpi <= 2400 else None


def _grayscale(image: Image.Image) -> Image.Image:
    """One byte a pixel; transparency becomes white paper, 16-bit scans keep their range."""
    from PIL import Image

    mode = image.mode
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"} or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        paper.alpha_composite(rgba)
        rgba.close()
        gray = paper.convert("L")
        paper.close()
        return gray
    if mode.startswith("I;16") or mode == "I":
        wide = image.convert("I")
        high = wide.getextrema()[1]
        divisor = 257 if isinstance(high, int) and high > 255 else 1
        return wide.point(lambda v: v / divisor).convert("L")
    if mode == "L":
        return image.copy()
    return image.convert("L")


def _upright(image: Image.Image, orientation: int) -> Image.Image:
    name = _ORIENT.get(orientation)
    if name is None:
        return image
    from PIL import Image

    turned = image.transpose(getattr(Image.Transpose, name))
    image.close()
    return turned


@contextlib.contextmanager
def open_pages(path: Path, kind: Kind, settings: OcrSettings) -> Iterator[PdfPages | ImagePages]:
    """Open ``path`` for rendering; a file that cannot be opened at all raises DocumentError."""
    if kind == "pdf":
        pdf = PdfPages(path, settings)
        try:
            yield pdf
        finally:
            pdf.close()
    elif kind == "image":
        with open_image(path, settings.max_image_pixels) as image:
            yield ImagePages(image, settings)
    else:
        raise ValueError(f"OCR cannot render {kind!r} files")


def render_page(path: Path, kind: Kind, number: int, settings: OcrSettings) -> RenderedPage:
    """Render one page of a file; for a batch, :func:`open_pages` keeps the file open."""
    with open_pages(path, kind, settings) as source:
        return source.render(number)
