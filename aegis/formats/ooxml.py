"""What DOCX, PPTX and XLSX share: the package, its zip gate and its document properties.

Every OOXML file is opened once per call as a :class:`Package`, which runs the zip
gate (bombs, unsafe names, encryption) before anything is inflated and refuses any
part it parses that declares entities. The readers walk the parts' XML with lxml
themselves: building python-docx/python-pptx/openpyxl object models cost ten to a
hundred times more than the text, and those libraries invent properties (a title,
an author, "modified now") for packages that have none.
"""

from __future__ import annotations

import functools
import threading
import zipfile
from pathlib import Path
from typing import Any, cast

from aegis.formats.base import Detection, DocumentError, Limits
from aegis.formats.dates import iso_date
from aegis.formats.sanitize import clean_inline
from aegis.formats.ziplean import LeanZip
from aegis.formats.zipsafe import (
    PROLOG_BYTES,
    ZipArchive,
    check_zip,
    open_zip,
    read_prolog,
    refuse_entities,
)
from aegis.vocabulary import ErrorCode

# The part that makes a zip a given OOXML kind.
MAIN_PARTS = {
    "docx": ("word/document.xml",),
    "pptx": ("ppt/presentation.xml",),
    "xlsx": ("xl/workbook.xml",),
}


def kind_of(names: list[str]) -> str | None:
    """Which OOXML kind a package is, by its main part (names are case-sensitive in OPC)."""
    lowered = {name.lower() for name in names}
    for kind, parts in MAIN_PARTS.items():
        if any(part in lowered for part in parts):
            return kind
    # Main parts may have other names; the content types part says which kind.
    return None


def _text(value: Any, limit: int = 2000) -> str | None:
    if value is None:
        return None
    text = clean_inline(str(value), limit)
    return text or None


# Parts up to this size stay parsed on a lent archive (presentation, workbook, relationships).
_REMEMBERED_PART_BYTES = 64 * 1024


def _gate(zf: ZipArchive, limits: Limits) -> set[str]:
    """The zip gate (:func:`check_zip`) and the member names; run once per archive and limits.

    An archive lent from validate to extraction passed the gate with the same limits
    already, and its directory cannot have changed since (it is held in memory).
    """
    passed = zf.gate_passed.get(limits) if isinstance(zf, LeanZip) else None
    if passed is not None:
        return passed
    names = {info.filename for info in check_zip(zf, limits)}
    if isinstance(zf, LeanZip):
        zf.gate_passed[limits] = names
    return names


class Package:
    """An OOXML package opened once: the zip gate run, parts parsed on demand with lxml.

    The readers walk the XML themselves instead of building python-docx/python-pptx
    object models: that is where nearly all of their time went. Parts are parsed by a
    parser that resolves no entities and loads no DTD; the gate has already refused
    any part declaring one, and the zip gate bounds every part's size.
    """

    def __init__(self, path: Path, limits: Limits | None = None, *, detection: Detection | None = None) -> None:
        limits = limits or Limits()
        # Sniffing's parse of the directory when validate lends it; the same archive
        # is lent on to extraction, so the file is read and its directory parsed once.
        lent = detection.container if detection is not None else None
        self._lent = isinstance(lent, LeanZip)
        self._zip = lent if isinstance(lent, LeanZip) else open_zip(path)
        self._parsed: dict[Any, Any] = self._zip.parsed if isinstance(self._zip, LeanZip) else {}
        try:
            self.names = _gate(self._zip, limits)
            if "[Content_Types].xml" not in self.names:
                raise DocumentError(ErrorCode.MALFORMED, "The Office file is missing its content types part.")
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._zip.close()

    def part(self, name: str) -> Any:
        """The root element of an XML part, or None if the package has no such part.

        Small parts are remembered on a lean archive: the main part and relationships
        check reads in validate are read again by extraction from the same archive.
        Callers only read the trees.
        """
        found = self._parsed.get(name)
        if found is not None:
            return found
        if name not in self.names:
            return None
        root = self._parse(name)
        if self._zip.getinfo(name).file_size <= _REMEMBERED_PART_BYTES:
            self._parsed[name] = root
        return root

    def _parse(self, name: str) -> Any:
        from lxml import etree

        try:
            data = self._zip.read(name)
            # The entity guard, on the parts we parse only: inflating the head of every
            # part of a package (layouts, themes, media) cost more than reading the text.
            refuse_entities(data[:PROLOG_BYTES])
            return etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            if "depth" in str(exc).lower():
                raise DocumentError(
                    ErrorCode.NESTING_TOO_DEEP, "The document nests its content too deeply to be read safely."
                ) from exc
            raise DocumentError(ErrorCode.MALFORMED, f"The Office file's {name} part is not well-formed XML.") from exc
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DocumentError(ErrorCode.MALFORMED, "A part of the Office file is damaged.") from exc

    def check_prolog(self, name: str) -> None:
        """Refuse a part that declares entities, inflating only its first bytes."""
        if name in self.names:
            refuse_entities(read_prolog(self._zip, name))

    def rels(self, name: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, part name) of ``name``'s internal relationships.

        Remembered with the parsed parts (validate and extraction both ask for the main
        part's); callers only read the dict.
        """
        key = ("rels", name)
        cached = self._parsed.get(key)
        if cached is not None:
            return cast(dict[str, tuple[str, str]], cached)
        folder, _, base = name.rpartition("/")
        root = self.part(f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels")
        found: dict[str, tuple[str, str]] = {}
        if root is None:
            return found
        for rel in root:
            target = rel.get("Target") or ""
            if rel.get("TargetMode") == "External" or not rel.get("Id"):
                continue
            found[rel.get("Id")] = (rel.get("Type") or "", resolve_part(folder, target))
        self._parsed[key] = found
        return found

    def declares(self, content_type: str) -> bool:
        """Whether the content types part names ``content_type`` (its bytes searched, not parsed).

        Every part of a package has its content type declared there (OPC), so a type the
        part never names is a kind of part the package does not hold.
        """
        try:
            return content_type.encode() in self._zip.read("[Content_Types].xml")
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DocumentError(ErrorCode.MALFORMED, "A part of the Office file is damaged.") from exc


def child_text(element: Any, tag: str) -> str | None:
    """``element.findtext(tag)`` for a direct child: the first ``tag`` child's text ("" if it
    has none), None without one. lxml's find and findtext go through its Python
    ElementPath; a loop over the children is several times faster, and cells and
    runs are where a big sheet or deck spends its time."""
    for child in element:
        if child.tag == tag:
            return child.text or ""
    return None


def child(element: Any, tag: str) -> Any:
    """``element.find(tag)`` for a direct child, without ElementPath (see :func:`child_text`)."""
    for found in element:
        if found.tag == tag:
            return found
    return None


@functools.lru_cache(maxsize=4096)
def resolve_part(folder: str, target: str) -> str:
    """A relationship target, relative to the source part's folder, as a part name.

    Remembered: packages repeat the same folders and targets (``../slideLayouts/...``),
    and this ran once per relationship of every relationships part read.
    """
    parts = [] if target.startswith("/") else [p for p in folder.split("/") if p]
    for piece in target.lstrip("/").split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


_PARSERS = threading.local()


def _parser() -> Any:
    """This thread's parser: lxml parsers must not be shared between threads, and
    parsing with a reused one is measurably faster than with a new one per part."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        from lxml import etree

        parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
        _PARSERS.parser = parser
    return parser


_CORE = {
    "title": "{http://purl.org/dc/elements/1.1/}title",
    "author": "{http://purl.org/dc/elements/1.1/}creator",
    "subject": "{http://purl.org/dc/elements/1.1/}subject",
    "keywords": "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}keywords",
    "created_at": "{http://purl.org/dc/terms/}created",
    "modified_at": "{http://purl.org/dc/terms/}modified",
    "last_modified_by": "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}lastModifiedBy",
    "revision": "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}revision",
    "category": "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}category",
    "comments": "{http://purl.org/dc/elements/1.1/}description",
    "declared_language": "{http://purl.org/dc/elements/1.1/}language",
}


def package_properties(package: Package) -> tuple[dict[str, Any], dict[str, Any]]:
    """(core properties in our normalised keys, app.xml values) read from an open package.

    Only what the file says: python-docx and python-pptx invent a title, an author
    and a modification time of "now" for a package without core.xml, which is
    metadata the document never had.
    """
    rels = package.rels("")
    core_name = next((t for k, t in rels.values() if k.endswith("/core-properties")), "docProps/core.xml")
    app_name = next((t for k, t in rels.values() if k.endswith("/extended-properties")), "docProps/app.xml")
    core: dict[str, Any] = dict.fromkeys(_CORE)
    try:
        root = package.part(core_name)
    except DocumentError:
        root = None  # the properties are informational; a damaged part is no reason to reject
    if root is not None:
        for key, tag in _CORE.items():
            text = root.findtext(tag)
            if not text or not text.strip():
                continue
            if key in ("created_at", "modified_at"):
                core[key] = iso_date(text.strip())
            elif key == "revision":
                core[key] = int(text.strip()) if text.strip().isdigit() and len(text.strip()) < 10 else None
            else:
                core[key] = _text(text, 5000 if key == "comments" else 35 if key == "declared_language" else 2000)
    app: dict[str, Any] = {}
    try:
        root = package.part(app_name)
    except DocumentError:
        root = None
    for child in root if root is not None else ():
        if not isinstance(child.tag, str):
            continue
        tag = child.tag.rsplit("}", 1)[-1]
        if tag in {"Application", "AppVersion", "Company"} and child.text:
            app[tag.lower() if tag != "AppVersion" else "app_version"] = _text(child.text, 200)
        elif tag in {"Pages", "Words", "Characters", "Slides", "Notes"} and child.text and child.text.strip().isdigit():
            app[tag.lower()] = int(child.text.strip())
    if "application" in app:
        app["creator"] = app.pop("application")
    return core, app
