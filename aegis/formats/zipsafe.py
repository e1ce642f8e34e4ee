"""Checks on zip containers before any Office/ODF/EPUB parser opens them.

python-docx, python-pptx and openpyxl trust the archive: they will happily inflate
a 300 MB part from a 300 KB file, or read a part called ``../../etc/passwd``. The
central directory tells us the declared sizes and names without inflating
anything, and CPython's zipfile never returns more bytes than an entry declares,
so checking the declarations is enough to bound what the parsers can allocate.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from aegis.formats.base import DocumentError, Limits
from aegis.formats.ziplean import LeanZip, Unsupported
from aegis.vocabulary import ErrorCode

_DRIVE = re.compile(r"^[A-Za-z]:")
# Below this size a high ratio is harmless (an XML part of zeros, a tiny text).
_RATIO_FLOOR = 1024 * 1024
# How much of each XML part we inflate to look at its prolog.
PROLOG_BYTES = 4096


#: What :func:`open_zip` gives: the lean reader, or zipfile for archives it does not take.
ZipArchive = zipfile.ZipFile | LeanZip


def open_zip(path: Path, data: bytes | None = None) -> ZipArchive:
    """Open the archive or say it is damaged (``PK`` followed by noise, truncation).

    ``data`` is the whole file when the caller already holds it.
    """
    try:
        return LeanZip(path, data)
    except Unsupported:
        pass
    except OSError as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The file is a damaged zip container and cannot be opened.") from exc
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The file is a damaged zip container and cannot be opened.") from exc


def check_zip(zf: ZipArchive, limits: Limits) -> list[Any]:
    """Reject archives that are bombs, carry unsafe names or are encrypted."""
    infos = zf.infolist()
    if len(infos) > limits.max_zip_entries:
        raise DocumentError(
            ErrorCode.ZIP_BOMB,
            f"The archive holds {len(infos)} entries, more than the {limits.max_zip_entries} allowed."
        )
    # One search of all names at once clears the common archive: a name refused below holds
    # "\\", NUL, "..", ":" (a drive) or starts with "/" (a newline then "/" once joined).
    # Only a hint: when it does not clear them, every name is checked in entry order as before.
    joined = "\n" + "\n".join(info.filename for info in infos)
    names_clean = not any(mark in joined for mark in ("\\", "\0", "..", ":", "\n/"))
    total = 0
    for info in infos:
        if not names_clean:
            name = info.filename
            parts = name.split("/")  # a backslash anywhere is refused below
            if name.startswith(("/", "\\")) or ".." in parts or "\0" in name or "\\" in name or _DRIVE.match(name):
                raise DocumentError(ErrorCode.UNSAFE_ARCHIVE)
        if info.flag_bits & 0x1:
            raise DocumentError(ErrorCode.ENCRYPTED, "The archive's entries are encrypted.")
        total += info.file_size
        if total > limits.max_zip_uncompressed:
            raise DocumentError(ErrorCode.ZIP_BOMB, "The archive expands to more data than allowed.")
        if info.file_size > _RATIO_FLOOR:
            ratio = info.file_size / max(1, info.compress_size)
            if ratio > limits.max_zip_ratio:
                raise DocumentError(
                    ErrorCode.ZIP_BOMB,
                    f"An archive entry expands {int(ratio)} times, more than the {limits.max_zip_ratio} allowed.",
                )
    return infos


def read_prolog(zf: ZipArchive, name: str, size: int = PROLOG_BYTES) -> bytes:
    """The first bytes of an entry, inflated no further than needed."""
    try:
        with zf.open(name) as fh:
            return fh.read(size)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise DocumentError(ErrorCode.MALFORMED, "A part of the archive is damaged.") from exc


def check_xml_prologs(zf: ZipArchive, infos: list[Any], *, allow_doctype: bool) -> None:
    """Reject XML parts that declare entities (XXE, billion laughs).

    OOXML and ODF never use a DTD, so any ``<!DOCTYPE`` there is hostile. XHTML in
    EPUB legitimately names an external DTD, so there we only refuse an internal
    subset, which is where entities are declared.
    """
    for info in infos:
        lower = info.filename.lower()
        if not lower.endswith((".xml", ".rels", ".xhtml", ".htm", ".html", ".opf", ".ncx", ".vml")):
            continue
        refuse_entities(read_prolog(zf, info.filename), allow_doctype=allow_doctype)


def refuse_entities(head: bytes, *, allow_doctype: bool = False) -> None:
    """Refuse an XML part whose prolog (its first bytes) declares a DTD or entities."""
    # Every marker below holds a "!": one search clears the common part (no comment, no DTD).
    if b"!" not in head:
        return
    if b"<!DOCTYPE" not in head and b"<!ENTITY" not in head and b"\0<\0!" not in head and b"<\0!\0" not in head:
        return
    if not allow_doctype or b"<!ENTITY" in head or b"[" in head.split(b"<!DOCTYPE", 1)[-1].split(b">", 1)[0]:
        raise DocumentError(ErrorCode.XML_ENTITIES, "The document declares XML entities, which we do not accept.")
