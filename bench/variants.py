"""Distinct variants of real documents, for the soak benchmark.

The gateway deduplicates by (tenant, sha256), so a soak of 1,000 documents needs
1,000 different files; copies of the same 160 corpus files would only hit the
dedup path. Each variant carries a unique marker placed where its format allows
extra bytes (PDF metadata as an incremental update, a ZIP comment, an extra OLE
sector, an e-mail header, an XML/HTML comment, a trailing line of text), so the
file still parses the way the original did and costs about the same to process.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

ZIP_SUFFIXES = {".docx", ".pptx", ".xlsx", ".odt", ".epub"}
OLE_SUFFIXES = {".doc", ".ppt", ".xls", ".msg"}
MARKUP_SUFFIXES = {".html", ".htm", ".xml"}
OLE_SECTOR = 512

_BOMS = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def marker(n: int) -> str:
    return f"aegis-soak-{n:06d}"


def text_codec(data: bytes) -> tuple[str, int]:
    """The codec to write extra text in, and the length of the BOM to keep in front.

    UTF-16/32 files without a BOM are recognised by their NUL bytes; everything
    else in the corpus is ASCII-compatible (UTF-8, cp1252, ISO-8859-x).
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    head = data[:400]
    if head.count(0) > len(head) // 4:
        return ("utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"), 0
    return "utf-8", 0


def _pdf(data: bytes, mark: str) -> bytes:
    """Metadata set through an incremental update: the original bytes stay as they were."""
    from pypdf import PdfReader, PdfWriter

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ValueError("encrypted")
        writer = PdfWriter(reader, incremental=True)
        writer.add_metadata({"/AegisSoak": mark})
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()
    except Exception:  # noqa: BLE001 - encrypted or broken on purpose: a comment after %%EOF
        return data + f"\n%{mark}\n".encode()


def _zip(data: bytes, mark: str) -> bytes:
    """A ZIP comment: the entries (and the ODF/EPUB ``mimetype`` first) are untouched."""
    try:
        buffer = io.BytesIO(data)
        with zipfile.ZipFile(buffer, "a") as archive:
            archive.comment = mark.encode()
        return buffer.getvalue()
    except (zipfile.BadZipFile, OSError, ValueError):
        return data + mark.encode()


def _ole(data: bytes, mark: str) -> bytes:
    """One more sector past the end: OLE readers address sectors, they never see it."""
    return data + mark.encode().ljust(OLE_SECTOR, b"\x00")


def _eml(data: bytes, mark: str) -> bytes:
    """A header at the end of the header block: the first lines, which sniffers read, stay."""
    codec, bom = text_codec(data)
    for separator in ("\r\n\r\n", "\n\n"):
        end = data.find(separator.encode(codec))
        if end >= 0:
            newline = separator[: len(separator) // 2]
            return data[:end] + f"{newline}X-Aegis-Soak: {mark}".encode(codec) + data[end:]
    return data + f"\nX-Aegis-Soak: {mark}\n".encode(codec)


def _json(data: bytes, mark: str) -> bytes:
    """A member inserted after the opening bracket; the rest of the text is kept byte for byte."""
    try:
        value = json.loads(data)
    except ValueError:
        return data + f"\n{mark}\n".encode()  # already invalid: stays invalid
    member = json.dumps({"aegis_soak": mark})
    if isinstance(value, dict) or isinstance(value, list):
        opening = data.find(b"{" if isinstance(value, dict) else b"[")
        insert = member[1:-1] if isinstance(value, dict) else member
        tail = ", " if value else ""
        return data[: opening + 1] + (insert + tail).encode() + data[opening + 1 :]
    return json.dumps({"value": value, "aegis_soak": mark}).encode()


def _rtf(data: bytes, mark: str) -> bytes:
    """An ignorable destination group just before the document's closing brace."""
    end = data.rfind(b"}")
    if end < 0:
        return data + mark.encode()
    return data[:end] + b"{\\*\\aegissoak " + mark.encode() + b"}" + data[end:]


def _text(data: bytes, mark: str, suffix: str) -> bytes:
    codec, _ = text_codec(data)
    text_sample = data[:2000].decode(codec, errors="replace")
    if suffix in {".csv", ".tsv"}:
        # A row with the header's number of fields, so CSV sniffers still see a table.
        first = text_sample.lstrip("\ufeff").splitlines()[0] if text_sample.strip() else ""
        delimiter = max(("\t", ";", ","), key=first.count)
        line = mark + delimiter * first.count(delimiter)
    elif suffix in MARKUP_SUFFIXES:
        line = f"<!-- {mark} -->"
    elif suffix == ".ndjson":
        line = json.dumps({"aegis_soak": mark})
    else:
        line = mark
    newline = "\r\n" if "\r\n" in text_sample else "\n"
    lead = "" if data.endswith((b"\n", "\n".encode(codec))) else newline
    return data + f"{lead}{line}{newline}".encode(codec)


def vary(name: str, data: bytes, n: int) -> bytes:
    """Variant ``n`` of a file called ``name``: different bytes, same format and about the same work."""
    suffix = Path(name).suffix.lower()
    mark = marker(n)
    if not data.strip(b" \t\r\n\x00\xff\xfe"):
        # Empty or blank on purpose (rejected as empty_file): stay blank, differently.
        return data + b" " * (n + 1)
    if suffix == ".pdf":
        return _pdf(data, mark)
    if suffix in ZIP_SUFFIXES:
        return _zip(data, mark)
    if suffix in OLE_SUFFIXES:
        return _ole(data, mark)
    if suffix == ".eml":
        return _eml(data, mark)
    if suffix == ".json":
        return _json(data, mark)
    if suffix == ".rtf":
        return _rtf(data, mark)
    return _text(data, mark, suffix)


def soak_sources(corpus: Path, max_bytes: int = 1_500_000, exclude: tuple[str, ...] = ("DA-619p.pdf",)) -> list[Path]:
    """The corpus files a soak cycles through: every file but the very large ones.

    The 619-page PDF alone takes minutes; in a 1,000-document soak it would be
    sent six times and measure that one file, not the steady state.
    """
    return sorted(
        p for p in corpus.rglob("*")
        if p.is_file() and p.parent != corpus and p.name not in exclude and p.stat().st_size <= max_bytes
    )


def variants(sources: list[Path], count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (name, bytes) pairs cycling through ``sources``, every one distinct."""
    cache: dict[Path, bytes] = {}
    for n in range(count):
        source = sources[n % len(sources)]
        data = cache.setdefault(source, source.read_bytes())
        yield f"{Path(source.name).stem}-{n:06d}{source.suffix}", vary(source.name, data, n)
