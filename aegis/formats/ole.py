"""What legacy Word and PowerPoint share: the OLE container and its property sets.

Both formats are OLE compound files (olefile reads the container); their text
lives in streams we parse ourselves (aegis.formats.doc, aegis.formats.ppt), and
their metadata in the standard ``SummaryInformation`` and
``DocumentSummaryInformation`` property sets, which olefile decodes. Every value
read from the file is bounds-checked by :class:`Reader`, so a hostile length
becomes ``malformed`` instead of an IndexError deep in a parser.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aegis.formats.base import DocumentError
from aegis.formats.dates import iso_date
from aegis.formats.sanitize import clean_inline
from aegis.vocabulary import ErrorCode


class Reader:
    """Little-endian integers at offsets of one stream, each read checked against its length."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.what = what

    def __len__(self) -> int:
        return len(self.data)

    def fail(self, detail: str) -> DocumentError:
        return DocumentError(ErrorCode.MALFORMED, f"The {self.what} is damaged: {detail}.")

    def need(self, offset: int, size: int) -> None:
        if offset < 0 or size < 0 or offset + size > len(self.data):
            raise self.fail(f"a structure at byte {offset} runs past the end of its stream")

    def u8(self, offset: int) -> int:
        self.need(offset, 1)
        return self.data[offset]

    def u16(self, offset: int) -> int:
        self.need(offset, 2)
        return int(struct.unpack_from("<H", self.data, offset)[0])

    def i16(self, offset: int) -> int:
        self.need(offset, 2)
        return int(struct.unpack_from("<h", self.data, offset)[0])

    def u32(self, offset: int) -> int:
        self.need(offset, 4)
        return int(struct.unpack_from("<I", self.data, offset)[0])

    def bytes(self, offset: int, size: int) -> bytes:
        self.need(offset, size)
        return self.data[offset : offset + size]


@contextlib.contextmanager
def open_ole(path: Path, what: str) -> Iterator[Any]:
    """The OLE container, or ``malformed`` if it is not one olefile can read."""
    import olefile

    try:
        ole = olefile.OleFileIO(str(path))
    except Exception as exc:  # noqa: BLE001 - olefile raises OSError and its own types on damage
        raise DocumentError(ErrorCode.MALFORMED, f"The {what} is a damaged container and cannot be opened.") from exc
    try:
        yield ole
    finally:
        with contextlib.suppress(Exception):
            ole.close()


def read_stream(ole: Any, name: str, what: str, *, required: bool = True) -> bytes | None:
    """A whole stream's bytes (bounded by the file size, itself capped by Limits.max_bytes)."""
    try:
        if not ole.exists(name):
            if required:
                raise DocumentError(ErrorCode.MALFORMED, f"The {what} has no {name} stream.")
            return None
        with ole.openstream(name) as stream:
            return bytes(stream.read())
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken FAT chain raises from olefile
        raise DocumentError(ErrorCode.MALFORMED, f"The {what}'s {name} stream cannot be read.") from exc


def _text(value: Any, limit: int = 2000) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        # olefile returns 8-bit strings undecoded; property sets written by Office are
        # in the document's code page, nearly always cp1252 for the Latin fields we read.
        value = value.decode("cp1252", "replace")
    return clean_inline(str(value), limit) or None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31 else None


def ole_properties(ole: Any) -> dict[str, Any]:
    """Normalised metadata from the property sets, plus counts for the family detail.

    The property sets are informational: a damaged one yields no keys, never an error.
    """
    try:
        meta = ole.get_metadata()
    except Exception:  # noqa: BLE001 - property set parsing fails on damaged streams
        return {}
    get = lambda name: getattr(meta, name, None)  # noqa: E731 - a short local accessor
    revision = _text(get("revision_number"), 20)
    return {
        "title": _text(get("title")),
        "author": _text(get("author")),
        "subject": _text(get("subject")),
        "keywords": _text(get("keywords")),
        "comments": _text(get("comments"), 5000),
        "created_at": iso_date(get("create_time")),
        "modified_at": iso_date(get("last_saved_time")),
        "last_modified_by": _text(get("last_saved_by")),
        "creator": _text(get("creating_application"), 200),
        "company": _text(get("company"), 200),
        "category": _text(get("category"), 200),
        "template": _text(get("template"), 200),
        "revision": int(revision) if revision and revision.isdigit() and len(revision) < 10 else None,
        "page_count": _count(get("num_pages")),
        "word_count": _count(get("num_words")),
        "char_count": _count(get("num_chars")),
        "slide_count": _count(get("slides")),
        "notes_count": _count(get("notes")),
    }


#: Keys of :func:`ole_properties` that are normalised metadata; the rest go to the family detail.
TOP_LEVEL = ("title", "author", "subject", "keywords", "created_at", "modified_at", "creator")


def split_properties(props: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(normalised keys, family detail) from :func:`ole_properties`."""
    top = {k: props[k] for k in TOP_LEVEL if props.get(k) is not None}
    detail = {k: v for k, v in props.items() if k not in TOP_LEVEL and v is not None}
    return top, detail
