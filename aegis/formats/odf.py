"""OpenDocument (ODT, ODS, ODP): text by page, sheet or slide, and meta.xml.

ODF is a zip of plain XML with a small, stable vocabulary, so we read it
directly with lxml (no network, no entity resolution, libxml2's depth limit)
after the zip gate, instead of depending on a larger library. Pages follow the
document: ``text:soft-page-break`` marks where the writer last broke pages, each
``table:table`` of a spreadsheet is a sheet, each ``draw:page`` a slide.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.dates import iso_date
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty
from aegis.formats.ziplean import LeanZip
from aegis.formats.zipsafe import check_xml_prologs, check_zip, open_zip
from aegis.vocabulary import ErrorCode

TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"

_BLOCKS = {f"{TEXT}p", f"{TEXT}h"}
_SKIP = {f"{TEXT}tracked-changes", f"{OFFICE}annotation", f"{TEXT}sequence-decls", f"{TABLE}named-expressions"}
# A repeated empty cell is how ODS says "the rest of the row"; cap repeats of text.
MAX_REPEAT = 100
MAX_XML_BYTES = 200 * 1024 * 1024


def parse_xml(data: bytes) -> Any:
    """Parse trusted-shape XML safely: no DTD loading, entities, or network."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        if "depth" in str(exc).lower():
            raise DocumentError(
                ErrorCode.NESTING_TOO_DEEP, "The document nests elements too deeply to be read safely."
            ) from exc
        raise DocumentError(ErrorCode.MALFORMED, "A part of the document is not well-formed XML.") from exc


def _open(path: Path, limits: Limits, detection: Detection | None = None) -> dict[str, bytes]:
    lent = detection.container if detection is not None else None  # sniffing's directory, in validate
    with lent if isinstance(lent, LeanZip) else open_zip(path) as zf:
        infos = check_zip(zf, limits)
        check_xml_prologs(zf, infos, allow_doctype=False)
        names = {info.filename for info in infos}
        if "content.xml" not in names:
            raise DocumentError(ErrorCode.MALFORMED, "The OpenDocument file has no content part.")
        if "META-INF/manifest.xml" in names:
            with zf.open("META-INF/manifest.xml") as fh:
                if b"encryption-data" in fh.read(1024 * 1024):
                    raise DocumentError(ErrorCode.ENCRYPTED, "The OpenDocument file is protected with a password.")
        parts: dict[str, bytes] = {}
        for name in ("content.xml", "meta.xml", "mimetype"):
            if name in names:
                try:
                    parts[name] = zf.read(name)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                    raise DocumentError(ErrorCode.MALFORMED, "A part of the OpenDocument file is damaged.") from exc
    return parts


def _pages(body: Any, budget: int) -> list[str]:
    """Text of an office:body, split into pages, sheets or slides."""
    from lxml import etree

    pages: list[list[str]] = [[]]
    size = 0
    skip = 0
    kind = None
    for event, element in etree.iterwalk(body, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _SKIP:
                skip += 1
            if skip:
                continue
            if kind is None and tag in {f"{OFFICE}text", f"{OFFICE}spreadsheet", f"{OFFICE}presentation"}:
                kind = tag
            # Sheets and slides start pages; nested tables inside a text do not.
            if (tag == f"{TABLE}table" and kind == f"{OFFICE}spreadsheet" and element.getparent().tag == kind) or (
                tag == f"{DRAW}page"
            ):
                if "".join(pages[-1]).strip():
                    pages.append([])
                name = element.get(f"{TABLE}name") if tag == f"{TABLE}table" else None
                if name:
                    pages[-1].append(name + "\n\n")
            elif tag == f"{TEXT}soft-page-break":
                if "".join(pages[-1]).strip():
                    pages.append([])
            elif tag == f"{TEXT}s":
                pages[-1].append(" " * min(int(element.get(f"{TEXT}c", "1") or 1), 100))
            elif tag == f"{TEXT}tab":
                pages[-1].append("\t")
            elif tag == f"{TEXT}line-break":
                pages[-1].append("\n")
            if element.text and (tag in _BLOCKS or tag.startswith(TEXT)) and tag not in {f"{TEXT}s", f"{TEXT}tab"}:
                pages[-1].append(element.text)
                size += len(element.text)
        else:
            if tag in _SKIP:
                skip -= 1
                continue
            if skip:
                continue
            if tag in _BLOCKS:
                pages[-1].append("\n")
            elif tag == f"{TABLE}table-cell":
                repeat = int(element.get(f"{TABLE}number-columns-repeated", "1") or 1)
                has_text = bool("".join(element.itertext()).strip())
                pages[-1].append(" | " * (min(repeat, MAX_REPEAT) if has_text else 1))
            elif tag == f"{TABLE}table-row":
                pages[-1].append("\n")
            if (
                element.tail
                and element.getparent() is not None
                and (element.getparent().tag in _BLOCKS or element.getparent().tag.startswith(TEXT))
            ):
                pages[-1].append(element.tail)
                size += len(element.tail)
        if size > budget:
            break
    texts = []
    for parts in pages:
        lines = [
            line.strip().strip("|").strip() if "|" in line else line.rstrip() for line in "".join(parts).split("\n")
        ]
        text = "\n".join(line for line in lines)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        texts.append(clean_text(text.strip()))
    while len(texts) > 1 and not texts[-1]:
        texts.pop()
    return texts


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    parts = _open(path, limits, detection)
    parse_xml(parts["content.xml"])
    return {}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    parts = _open(path, limits)
    root = parse_xml(parts["content.xml"])
    body = root.find(f"{OFFICE}body")
    texts = _pages(body, limits.max_text_chars) if body is not None else [""]
    if len(texts) > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The document has {len(texts)} pages; the limit is {limits.max_pages}."
        )
    return cap_pages_text([Page(number=i + 1, text=t) for i, t in enumerate(texts)], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    parts = _open(path, limits)
    pages = extract_pages(path, limits)
    meta_root = parse_xml(parts["meta.xml"]) if "meta.xml" in parts else None
    values: dict[str, Any] = {}
    stats: dict[str, int] = {}
    if meta_root is not None:
        office_meta = meta_root.find(f"{OFFICE}meta")
        if office_meta is not None:
            keywords = []
            for child in office_meta:
                tag = child.tag if isinstance(child.tag, str) else ""
                text = clean_inline(child.text or "", 2000)
                if tag == f"{META}keyword" and text:
                    keywords.append(text)
                elif tag == f"{META}document-statistic":
                    for key, value in child.attrib.items():
                        if str(value).isdigit():
                            stats[key.rsplit("}", 1)[-1].replace("-", "_")] = int(value)
                elif text:
                    values[tag] = text
            if keywords:
                values["keywords"] = ", ".join(keywords)
    mimetype = parts.get("mimetype", b"").decode("ascii", "replace").strip()
    revision = values.get(f"{META}editing-cycles")
    detail = drop_empty(
        {
            "mimetype": mimetype,
            "last_modified_by": values.get(f"{DC}creator"),
            "revision": int(revision) if revision and revision.isdigit() else None,
            "declared_language": values.get(f"{DC}language"),
            "statistics": stats,
        }
    )
    return drop_empty(
        {
            "title": values.get(f"{DC}title"),
            "author": values.get(f"{META}initial-creator") or values.get(f"{DC}creator"),
            "subject": values.get(f"{DC}subject"),
            "keywords": values.get("keywords"),
            "creator": values.get(f"{META}generator"),
            "created_at": iso_date(values.get(f"{META}creation-date")),
            "modified_at": iso_date(values.get(f"{DC}date")),
            "odf": detail,
        }
    ) | {"pages": len(pages)}


#: OpenDocument text, spreadsheets and presentations.
FAMILY = ModuleFamily(
    "odf",
    (
        FileType("odt", "application/vnd.oasis.opendocument.text"),
        FileType("ods", "application/vnd.oasis.opendocument.spreadsheet"),
        FileType("odp", "application/vnd.oasis.opendocument.presentation"),
    ),
    __name__,
)
