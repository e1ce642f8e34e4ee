"""What DOCX, PPTX and XLSX share: the zip gate and the document properties.

Every OOXML file passes :func:`open_package` before python-docx, python-pptx or
openpyxl touches it, so the bomb, path and entity checks live in one place.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from aegis.formats.base import DocumentError, Limits
from aegis.formats.dates import iso_date
from aegis.formats.sanitize import clean_inline
from aegis.formats.zipsafe import check_xml_prologs, check_zip, open_zip
from aegis.vocabulary import ErrorCode

# The part that makes a zip a given OOXML kind.
MAIN_PARTS = {
    "docx": ("word/document.xml",),
    "pptx": ("ppt/presentation.xml",),
    "xlsx": ("xl/workbook.xml",),
}


def open_package(path: Path, limits: Limits | None = None) -> list[str]:
    """Run the zip gate on an OOXML package and return its entry names."""
    limits = limits or Limits()
    with open_zip(path) as zf:
        infos = check_zip(zf, limits)
        names = [info.filename for info in infos]
        if "[Content_Types].xml" not in names:
            raise DocumentError(ErrorCode.MALFORMED, "The Office file is missing its content types part.")
        check_xml_prologs(zf, infos, allow_doctype=False)
    return names


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


def core_properties(props: Any) -> dict[str, Any]:
    """python-docx/python-pptx/openpyxl core properties in our normalised keys."""

    def get(name: str) -> Any:
        try:
            return getattr(props, name, None)
        except Exception:  # noqa: BLE001 - a malformed date in core.xml raises on access
            return None

    revision = get("revision")
    return {
        "title": _text(get("title")),
        "author": _text(get("author") or get("creator")),
        "subject": _text(get("subject")),
        "keywords": _text(get("keywords")),
        "created_at": iso_date(get("created")),
        "modified_at": iso_date(get("modified")),
        "last_modified_by": _text(get("last_modified_by") or get("lastModifiedBy")),
        "revision": int(revision)
        if isinstance(revision, int) or (isinstance(revision, str) and revision.isdigit())
        else None,
        "category": _text(get("category")),
        "comments": _text(get("comments") or get("description"), 5000),
        "declared_language": _text(get("language"), 35),
    }


def app_properties(path: Path) -> dict[str, Any]:
    """docProps/app.xml: the producing application and its own counts."""
    import zipfile

    from defusedxml import ElementTree

    try:
        with zipfile.ZipFile(path) as zf:
            if "docProps/app.xml" not in zf.namelist():
                return {}
            with zf.open("docProps/app.xml") as fh:
                root = ElementTree.fromstring(fh.read(1024 * 1024))
    except Exception:  # noqa: BLE001 - app.xml is optional and informational
        return {}
    values: dict[str, Any] = {}
    for child in root:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag in {"Application", "AppVersion", "Company"} and child.text:
            values[tag.lower() if tag != "AppVersion" else "app_version"] = _text(child.text, 200)
        elif tag in {"Pages", "Words", "Characters", "Slides", "Notes"} and child.text and child.text.strip().isdigit():
            values[tag.lower()] = int(child.text.strip())
    if "application" in values:
        values["creator"] = values.pop("application")
    return values


class Package:
    """An OOXML package opened once: the zip gate run, parts parsed on demand with lxml.

    The readers walk the XML themselves instead of building python-docx/python-pptx
    object models: that is where nearly all of their time went. Parts are parsed by a
    parser that resolves no entities and loads no DTD; the gate has already refused
    any part declaring one, and the zip gate bounds every part's size.
    """

    def __init__(self, path: Path, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        self._zip = open_zip(path)
        try:
            infos = check_zip(self._zip, limits)
            self.names = {info.filename for info in infos}
            if "[Content_Types].xml" not in self.names:
                raise DocumentError(ErrorCode.MALFORMED, "The Office file is missing its content types part.")
            check_xml_prologs(self._zip, infos, allow_doctype=False)
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> Package:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._zip.close()

    def part(self, name: str) -> Any:
        """The root element of an XML part, or None if the package has no such part."""
        from lxml import etree

        if name not in self.names:
            return None
        try:
            data = self._zip.read(name)
            return etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            if "depth" in str(exc).lower():
                raise DocumentError(
                    ErrorCode.NESTING_TOO_DEEP, "The document nests its content too deeply to be read safely."
                ) from exc
            raise DocumentError(ErrorCode.MALFORMED, f"The Office file's {name} part is not well-formed XML.") from exc
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            raise DocumentError(ErrorCode.MALFORMED, "A part of the Office file is damaged.") from exc

    def rels(self, name: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, part name) of ``name``'s internal relationships."""
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
        return found


def resolve_part(folder: str, target: str) -> str:
    """A relationship target, relative to the source part's folder, as a part name."""
    parts = [] if target.startswith("/") else [p for p in folder.split("/") if p]
    for piece in target.lstrip("/").split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _parser() -> Any:
    from lxml import etree

    # A parser per call: lxml parsers must not be shared between threads.
    return etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False)
