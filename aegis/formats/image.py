"""Images (PNG, JPEG, TIFF, WebP, BMP, GIF): checked, described, and handed to OCR.

An image has no text layer, so ``extract_pages`` returns empty pages and the OCR
stage fills them. A multi-page TIFF is a scanned document (fax machines and
scanners write them), so each frame is a page; the frames of a GIF or WebP are an
animation, so only the first is read.

Pillow decodes lazily: ``Image.open`` reads the header, and pixels are decoded on
``load``. Everything here relies on that, so a 100,000 x 100,000 pixel "bomb" of a
few kilobytes is refused from its header before a byte of pixels is allocated.
Pillow's bomb limit is a process-wide variable; :func:`open_image` sets it
explicitly for the duration of each call instead of trusting whatever value the
process happens to have.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.sanitize import clean_inline, drop_empty
from aegis.vocabulary import ErrorCode

if TYPE_CHECKING:
    from PIL import Image

# Pillow's format name -> the MIME type we record. MPO is how Pillow opens the JPEGs many
# phones write (a JPEG with extra preview frames); it is a JPEG to everyone else.
FORMATS: dict[str, str] = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "TIFF": "image/tiff",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "GIF": "image/gif",
    "HEIF": "image/heic",  # phones' photos (pi-heif reads HEIC and HEIF)
}
# The decoders Pillow may use (its JPEG opener returns an MPO image by itself when it sees one).
OPEN_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP", "GIF", "HEIF")
# Formats whose frames are pages of a document rather than an animation.
PAGED_FORMATS = {"TIFF"}
# Pillow's default warning threshold (~179 MP): above it a single frame would need
# hundreds of megabytes just to decode.
MAX_IMAGE_PIXELS = 178_956_970

# EXIF tags (TIFF/EP numbers), IFD0 and the Exif sub-IFD.
_MAKE, _MODEL, _SOFTWARE, _DATETIME, _ORIENTATION = 0x010F, 0x0110, 0x0131, 0x0132, 0x0112
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _OFFSET_TIME = 0x9003, 0x9011, 0x9010


@contextlib.contextmanager
def bomb_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow refuse any image over ``max_pixels`` while the block runs.

    Pillow only *warns* between its limit and twice its limit; the warning is
    turned into an error so the limit means what it says.
    """
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def image_error(exc: BaseException) -> DocumentError:
    """Map Pillow's failures to stable codes."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, DocumentError):
        return exc
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return DocumentError(ErrorCode.ZIP_BOMB, "The image has far more pixels than we accept.")
    if isinstance(exc, UnidentifiedImageError):
        return DocumentError(ErrorCode.MALFORMED, "The file is not an image we can read.")
    if isinstance(exc, MemoryError):
        return DocumentError(ErrorCode.TOO_LARGE, "The image needs more memory to decode than we allow.")
    message = str(exc).lower()
    if "truncated" in message or isinstance(exc, EOFError):
        return DocumentError(ErrorCode.MALFORMED, "The image is truncated: its file ends before its pixels do.")
    return DocumentError(ErrorCode.MALFORMED, "The image is damaged and cannot be decoded.")


def check_frame_size(image: Image.Image, max_pixels: int) -> None:
    """Refuse a frame whose declared size is a bomb (TIFF frames each declare their own)."""
    width, height = image.size
    if width <= 0 or height <= 0:
        raise DocumentError(ErrorCode.MALFORMED, "The image declares no pixels.")
    if width * height > max_pixels:
        raise DocumentError(
            ErrorCode.ZIP_BOMB, f"The image is {width} x {height} pixels; the limit is {max_pixels:,} pixels."
        )


@functools.lru_cache(maxsize=1)
def register_heif() -> None:
    """Teach Pillow HEIC/HEIF (once per process, on first use: no import-time side effect).

    pi-heif, the decode-only build of pillow-heif: the same libheif without the x265
    encoder (23 MB) that reading photos never needs.
    """
    from pi_heif import register_heif_opener

    register_heif_opener()


@contextlib.contextmanager
def open_image(path: Path, max_pixels: int = MAX_IMAGE_PIXELS) -> Iterator[Image.Image]:
    """Open an image lazily under an explicit bomb limit, with failures mapped to codes.

    Only formats in :data:`FORMATS` are accepted: Pillow can open dozens more (PSD,
    EPS through Ghostscript, ...), and each extra decoder is attack surface we do
    not need. Only failures to open are mapped here; the caller's own errors pass
    through untouched.
    """
    from PIL import Image

    register_heif()
    with bomb_limit(max_pixels):
        try:
            image = Image.open(path, formats=OPEN_FORMATS)
        except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, ValueError, SyntaxError, struct.error...
            raise image_error(exc) from exc
        with image:
            check_frame_size(image, max_pixels)
            yield image


def frame_count(image: Image.Image) -> int:
    """How many frames the file holds (TIFF reads its IFD chain, which is cheap)."""
    return int(getattr(image, "n_frames", 1) or 1)


def page_count(image: Image.Image) -> int:
    """Pages for OCR: every frame of a TIFF, the first frame of anything else."""
    return frame_count(image) if image.format in PAGED_FORMATS else 1


def _pages(path: Path, limits: Limits) -> int:
    with open_image(path) as image:
        pages = page_count(image)
    if pages > limits.max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The image has {pages} pages; the limit is {limits.max_pages}.")
    return pages


def check(path: Path, limits: Limits, detection: Detection | None = None) -> dict[str, Any]:
    """Refuse bombs, truncated files and page counts over the cap before any OCR.

    The first frame is decoded (JPEGs in draft mode, at 1/8 scale, which libjpeg
    does without the full-size buffer) because a truncated or corrupt file is
    only found by decoding, and finding it here gives a clear rejection instead
    of a failed OCR batch later.
    """
    size = path.stat().st_size
    if size == 0:
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file is empty.")
    if size > limits.max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE, f"The image is {size} bytes; the limit is {limits.max_bytes}.")
    with open_image(path) as image:
        pages = page_count(image)
        if pages > limits.max_pages:
            raise DocumentError(
                ErrorCode.TOO_MANY_PAGES, f"The image has {pages} pages; the limit is {limits.max_pages}."
            )
        image_format = str(image.format)
        try:
            image.seek(0)
            if image_format in {"JPEG", "MPO"}:
                image.draft("L", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
        except Exception as exc:  # noqa: BLE001 - decoder failures come as OSError, ValueError, SyntaxError...
            raise image_error(exc) from exc
    return {"pages": pages, "format": image_format}


def extract_pages(path: Path, limits: Limits, detection: Detection | None = None) -> list[Page]:
    """One empty page per page to read: OCR fills in the text."""
    return [Page(number=n, text="") for n in range(1, _pages(path, limits) + 1)]


def extract_metadata(path: Path, limits: Limits, detection: Detection | None = None) -> dict[str, Any]:
    """``pages``, ``created_at`` and an ``image`` section: geometry, format and EXIF basics.

    GPS coordinates are never copied: a phone photo of a receipt would otherwise
    publish where its owner lives. ``has_gps`` says they exist.
    """
    with open_image(path) as image:
        frames = frame_count(image)
        pages = page_count(image)
        if pages > limits.max_pages:
            raise DocumentError(
                ErrorCode.TOO_MANY_PAGES, f"The image has {pages} pages; the limit is {limits.max_pages}."
            )
        detail: dict[str, Any] = {
            "format": str(image.format),
            "mime": FORMATS.get(str(image.format)),
            "width": image.width,
            "height": image.height,
            "mode": image.mode,
            "frames": frames,
            "dpi": _dpi(image.info.get("dpi")),
        }
        exif = _exif(image)
        text_info = _text_chunks(image.info)
    detail.update(exif)
    meta: dict[str, Any] = {
        "pages": pages,
        "title": text_info.get("title"),
        "author": text_info.get("author"),
        "creator": exif.get("software"),
        "created_at": exif.get("taken_at"),
        "image": drop_empty(detail),
    }
    return drop_empty(meta) | {"pages": pages}


def _dpi(value: Any) -> list[int] | None:
    """Resolution as ``[x, y]`` dots per inch; absent or nonsense values are left out."""
    try:
        x, y = (round(float(v)) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    return [x, y] if 0 < x < 100_000 and 0 < y < 100_000 else None


def _exif(image: Image.Image) -> dict[str, Any]:
    """The EXIF facts people search by; a broken EXIF block is not a broken image."""
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - malformed EXIF raises anything from struct.error to SyntaxError
        return {}
    out: dict[str, Any] = {}
    for tag, key in ((_MAKE, "make"), (_MODEL, "model"), (_SOFTWARE, "software")):
        value = _exif_text(exif.get(tag))
        if value:
            out[key] = value
    orientation = exif.get(_ORIENTATION)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        out["orientation"] = orientation
    sub: Any = {}
    with contextlib.suppress(Exception):
        sub = exif.get_ifd(_EXIF_IFD)
    taken = _exif_date(
        sub.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME), sub.get(_OFFSET_TIME_ORIGINAL) or sub.get(_OFFSET_TIME)
    )
    if taken:
        out["taken_at"] = taken
    gps: Any = {}
    with contextlib.suppress(Exception):
        gps = exif.get_ifd(_GPS_IFD)
    out["has_gps"] = bool(gps)
    return out


def _exif_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    text = clean_inline(value.replace("\x00", " "), 200)
    return text or None


def _exif_date(raw: Any, offset: Any) -> str | None:
    """EXIF writes ``YYYY:MM:DD HH:MM:SS`` local time; the offset, if any, is a separate tag."""
    text = _exif_text(raw)
    if not text:
        return None
    try:
        value = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = _exif_text(offset)
    if zone and len(zone) == 6 and zone[0] in "+-" and zone[3] == ":":
        with contextlib.suppress(ValueError):
            delta = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
            value = value.replace(tzinfo=timezone(-delta if zone[0] == "-" else delta))
    return value.isoformat()


def _text_chunks(info: Mapping[Any, Any]) -> dict[str, str]:
    """PNG tEXt/iTXt keys that map onto normalised metadata (PNG spec's predefined keywords)."""
    out: dict[str, str] = {}
    for source, key in (("Title", "title"), ("Author", "author")):
        value = _exif_text(info.get(source))
        if value:
            out[key] = value
    return out


#: Scans and photos: no text layer of their own, every page is read by OCR.
FAMILY = ModuleFamily(
    "image",
    (
        FileType("png", "image/png"),
        FileType("jpg", "image/jpeg"),
        FileType("jpeg", "image/jpeg"),
        FileType("jpe", "image/jpeg"),
        FileType("jfif", "image/jpeg"),
        FileType("tif", "image/tiff"),
        FileType("tiff", "image/tiff"),
        FileType("webp", "image/webp"),
        FileType("bmp", "image/bmp"),
        FileType("dib", "image/bmp"),
        FileType("gif", "image/gif"),
        FileType("heic", "image/heic"),
        FileType("heif", "image/heif"),
    ),
    __name__,
)
