"""Decide what a file really is from its bytes, and whether its name may say so.

The client's extension picks the families it may claim; the content, read by
libmagic and our own structural sniffing, picks the family it is. A disagreement
(an EXE called ``.pdf``, an HTML page called ``.txt``) is a ``type_mismatch``:
we would rather refuse than parse a file with the wrong parser.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from aegis.formats.base import DocumentError
from aegis.formats.encoding import decode_bytes, looks_binary
from aegis.formats.registry import REGISTRY
from aegis.formats.ziplean import LeanZip, Unsupported
from aegis.vocabulary import ErrorCode

HEAD_BYTES = 64 * 1024
# PDF readers accept a header anywhere in the first 1024 bytes (PDF 32000, annex H).
PDF_HEADER_WINDOW = 1024

# The families' declarations, flattened for resolve_family (aegis/formats/registry.py).
EXTENSIONS: Mapping[str, str] = REGISTRY.extensions  # extension -> family that handles it
TEXT_FAMILIES = REGISTRY.textual

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Sniffed kinds are named after the extension of their format, so the registry
# gives each one its MIME type and family.
_ODF_MIMES = {REGISTRY.mime_of(kind): kind for kind in ("odt", "ods", "odp")}
_OOXML_MIMES = {kind: REGISTRY.mime_of(kind) for kind in ("docx", "pptx", "xlsx")}
_LEGACY_MIMES = {kind: REGISTRY.mime_of(kind) for kind in ("doc", "xls", "ppt", "msg")}
# Scans and photos OCR can read (older libmagic calls BMP image/x-ms-bmp).
IMAGE_MIMES = frozenset(
    {"image/png", "image/jpeg", "image/tiff", "image/webp", "image/bmp", "image/x-ms-bmp", "image/gif",
     "image/heic", "image/heif"}
)
# Kinds that name a format a family parses.
PARSED_KINDS = frozenset(
    {"pdf", "docx", "pptx", "xlsx", "odt", "ods", "odp", "epub", "rtf", "msg", "xls", "doc", "ppt"}
)
# People rename files between the legacy and the XML format of one application, and the
# application opens them anyway: (family the name claims, family the bytes are) pairs we read.
SAME_APPLICATION = frozenset(
    {("xls", "xlsx"), ("doc", "docx"), ("docx", "doc"), ("ppt", "pptx"), ("pptx", "ppt")}
)


@dataclass
class Sniffed:
    """What the bytes say: a coarse kind, the MIME type to record, extra facts."""

    kind: str  # pdf, docx, pptx, xlsx, odt, ods, odp, epub, zip, doc, xls, ppt, msg, ole, rtf, text, binary, exe
    mime: str
    note: str = ""
    # The container sniffing opened (a LeanZip or a CompoundFile), for the family's check to reuse.
    container: object = field(default=None, repr=False, compare=False)


def _magic_mime(head: bytes) -> str:
    try:
        import magic

        return str(magic.from_buffer(head, mime=True))
    except Exception:  # noqa: BLE001 - libmagic missing or failing must not decide the outcome
        return "application/octet-stream"


def _open_zip(path: Path, head: bytes) -> LeanZip | zipfile.ZipFile:
    """The lean reader (a small file's head is the whole file), zipfile for what it does not take."""
    try:
        return LeanZip(path, head if len(head) < HEAD_BYTES else None)
    except Unsupported:
        return zipfile.ZipFile(path)


def _sniff_zip(path: Path, head: bytes) -> Sniffed:
    try:
        with _open_zip(path, head) as zf:
            sniffed = _zip_kind(zf)
            # Kept for the family's check (aegis.formats.ooxml.Package): one parse of the directory.
            sniffed.container = zf if isinstance(zf, LeanZip) else None
            return sniffed
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, KeyError, NotImplementedError):
        return Sniffed("zip-damaged", "application/zip")


def _zip_kind(zf: LeanZip | zipfile.ZipFile) -> Sniffed:
    names = zf.namelist()
    lowered = {name.lower() for name in names}
    if "mimetype" in names:
        info = zf.getinfo("mimetype")
        mimetype = zf.read("mimetype").decode("ascii", "replace").strip() if info.file_size < 200 else ""
        if mimetype == "application/epub+zip":
            return Sniffed("epub", mimetype)
        if mimetype in _ODF_MIMES:
            return Sniffed(_ODF_MIMES[mimetype], mimetype)
        if mimetype.startswith("application/vnd.oasis.opendocument"):
            return Sniffed("odf-other", mimetype)
    if "[content_types].xml" in lowered:
        if "word/document.xml" in lowered:
            return Sniffed("docx", _OOXML_MIMES["docx"])
        if "ppt/presentation.xml" in lowered:
            return Sniffed("pptx", _OOXML_MIMES["pptx"])
        if "xl/workbook.xml" in lowered:
            return Sniffed("xlsx", _OOXML_MIMES["xlsx"])
        return Sniffed("ooxml-other", "application/zip")
    return Sniffed("zip", "application/zip")


def _ole_names(path: Path, head: bytes) -> tuple[set[str], object]:
    """Lower-case paths of an OLE file's streams and storages.

    The lean reader (aegis.formats.cfb) first: olefile's full directory parse was
    most of a small MSG's sniff. A container it refuses is asked of olefile, which
    tolerates some damage Office tolerates too; its verdict stands.
    """
    from aegis.formats.cfb import CfbError, open_compound

    try:
        compound = open_compound(path, 2**31, head=head, head_size=HEAD_BYTES)
        return compound.names(), compound
    except CfbError:
        pass
    import olefile

    with olefile.OleFileIO(str(path)) as ole:
        return {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}, None


def _sniff_ole(path: Path, head: bytes) -> Sniffed:
    try:
        streams, compound = _ole_names(path, head)
    except Exception:  # noqa: BLE001 - olefile raises OSError and its own types on damage
        return Sniffed("ole-damaged", "application/x-ole-storage")
    if "encryptioninfo" in streams and "encryptedpackage" in streams:
        return Sniffed("ooxml-encrypted", "application/x-ole-storage")
    if "worddocument" in streams:
        return Sniffed("doc", _LEGACY_MIMES["doc"])
    if "workbook" in streams or "book" in streams:
        return Sniffed("xls", _LEGACY_MIMES["xls"])
    if "powerpoint document" in streams:
        return Sniffed("ppt", _LEGACY_MIMES["ppt"])
    if any(name.startswith("__substg1.0_") for name in streams):
        return Sniffed("msg", _LEGACY_MIMES["msg"], container=compound)
    return Sniffed("ole", "application/x-ole-storage")


def sniff(path: Path) -> Sniffed:
    """Classify the file by content only."""
    with path.open("rb") as fh:
        head = fh.read(HEAD_BYTES)
    # Containers and PDFs are told by their structure; libmagic (a noticeable share of a
    # small file's time) is asked only about the rest.
    if head.startswith(b"%PDF-"):
        return Sniffed("pdf", "application/pdf")
    if b"%PDF-" in head[:PDF_HEADER_WINDOW]:
        return Sniffed("pdf", "application/pdf", note="bytes before the PDF header")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(path, head)
    if head.startswith(_OLE):
        return _sniff_ole(path, head)
    if head.startswith(b"{\\rtf"):
        return Sniffed("rtf", "text/rtf")
    mime = _magic_mime(head)
    if head.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe")) or mime in {
        "application/x-dosexec",
        "application/x-executable",
        "application/x-sharedlib",
        "application/x-mach-binary",
    }:
        return Sniffed("exe", mime)
    if mime in IMAGE_MIMES:
        return Sniffed("image", "image/bmp" if mime == "image/x-ms-bmp" else mime)
    if mime.startswith(("image/", "audio/", "video/", "font/")) or mime in {
        "application/gzip",
        "application/x-bzip2",
        "application/x-xz",
        "application/x-7z-compressed",
        "application/x-rar",
        "application/vnd.rar",
        "application/x-tar",
        "application/zstd",
    }:
        return Sniffed("binary", mime)
    text, _ = decode_bytes(head[: len(head) - 4] if len(head) == HEAD_BYTES else head)
    if looks_binary(text):
        return Sniffed("binary", mime if mime != "text/plain" else "application/octet-stream")
    return Sniffed(
        "text",
        mime
        if mime.startswith(("text/", "application/json", "message/", "application/x-ndjson", "application/xml"))
        else "text/plain",
    )


def looks_like_html_document(path: Path) -> bool:
    """An HTML page, not text that mentions a tag: it starts with a doctype or <html>."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    text, _ = decode_bytes(head)
    start = text.lstrip("\ufeff \t\r\n").lower()
    if start.startswith("<!--"):
        end = start.find("-->")
        start = start[end + 3 :].lstrip() if end >= 0 else start
    return start.startswith(("<!doctype html", "<html"))


def looks_like_pdf_in_text(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"%PDF-"


def resolve_family(extension: str, sniffed: Sniffed, path: Path) -> str:
    """The family to parse with, or a DocumentError saying why not."""
    claimed = EXTENSIONS.get(extension) if extension else None
    kind = sniffed.kind
    if extension and claimed is None:
        raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT, f"Files of type .{extension} are not supported.")

    if kind in {"zip-damaged", "ole-damaged"}:
        raise DocumentError(ErrorCode.MALFORMED, "The file is a damaged container and cannot be opened.")
    if kind == "ooxml-encrypted":
        raise DocumentError(ErrorCode.ENCRYPTED, "The Office document is protected with a password.")
    if kind in {"exe"}:
        raise DocumentError(ErrorCode.TYPE_MISMATCH, "The file is a program, not a document.")

    by_kind = {parsed: EXTENSIONS[parsed] for parsed in PARSED_KINDS}
    if kind in {"zip", "ooxml-other", "odf-other", "ole", "binary"}:
        if claimed is None:
            raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT)
        raise _mismatch(extension, kind)
    if kind == "image":
        if claimed in (None, "image"):
            return "image"
        raise _mismatch(extension, kind)
    if kind == "text":
        if claimed is None:
            return "text"
        if claimed not in TEXT_FAMILIES:
            raise _mismatch(extension, kind)
        if claimed == "text" and extension in {"txt", "text", "log"} and looks_like_html_document(path):
            raise DocumentError(ErrorCode.TYPE_MISMATCH, "The file is an HTML page but its name says it is plain text.")
        return claimed
    family = by_kind.get(kind)
    if family is None:  # pragma: no cover - every kind is handled above
        raise DocumentError(ErrorCode.UNSUPPORTED_FORMAT)
    if claimed is None or claimed == family or (claimed, family) in SAME_APPLICATION:
        # A file named for the other format of the same application opens in that application.
        return family
    raise _mismatch(extension, kind)


def _mismatch(extension: str, kind: str) -> DocumentError:
    described = {
        "pdf": "a PDF",
        "docx": "a Word document",
        "pptx": "a PowerPoint presentation",
        "xlsx": "an Excel workbook",
        "odt": "an OpenDocument text",
        "ods": "an OpenDocument spreadsheet",
        "odp": "an OpenDocument presentation",
        "epub": "an EPUB book",
        "rtf": "an RTF document",
        "msg": "an Outlook message",
        "xls": "an Excel 97 workbook",
        "doc": "a Word 97 document",
        "ppt": "a PowerPoint 97 presentation",
        "zip": "a zip archive",
        "text": "text",
        "binary": "binary data",
        "image": "an image",
        "exe": "a program",
        "ole": "an OLE container",
        "ooxml-other": "an Office package of an unknown kind",
        "odf-other": "an OpenDocument file of an unsupported kind",
    }.get(kind, "something else")
    return DocumentError(
        ErrorCode.TYPE_MISMATCH, f"The file is {described}, which does not match its .{extension} name."
    )
