"""EPUB: one page per spine document (chapter), metadata from the OPF package.

An EPUB is a zip of XHTML chapters listed in reading order by the package
document's spine. After the zip gate (which here allows an external DOCTYPE,
as XHTML legitimately names one, but no internal subset), chapters are read in
spine order and turned into visible text by the HTML module.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.dates import iso_date
from aegis.formats.html import decode_html, html_to_text
from aegis.formats.odf import parse_xml
from aegis.formats.sanitize import cap_pages_text, clean_inline, drop_empty
from aegis.formats.zipsafe import ZipArchive, check_xml_prologs, check_zip, open_zip
from aegis.vocabulary import ErrorCode

OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"
CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
MAX_CHAPTER_BYTES = 50 * 1024 * 1024


def _package(zf: ZipArchive, names: set[str]) -> tuple[str, Any]:
    if "META-INF/container.xml" not in names:
        raise DocumentError(ErrorCode.MALFORMED, "The EPUB has no container part.")
    container = parse_xml(zf.read("META-INF/container.xml"))
    rootfile = container.find(f".//{CONTAINER}rootfile")
    opf_path = rootfile.get("full-path") if rootfile is not None else None
    if not opf_path or opf_path not in names:
        raise DocumentError(ErrorCode.MALFORMED, "The EPUB's package document is missing.")
    return opf_path, parse_xml(zf.read(opf_path))


def _spine(opf_path: str, opf: Any) -> list[str]:
    base = posixpath.dirname(opf_path)
    manifest = {}
    for item in opf.iter(f"{OPF}item"):
        href = item.get("href")
        if href:
            manifest[item.get("id")] = (
                posixpath.normpath(posixpath.join(base, unquote(href))),
                item.get("media-type", ""),
            )
    order = []
    for ref in opf.iter(f"{OPF}itemref"):
        entry = manifest.get(ref.get("idref"))
        if entry and ("html" in entry[1] or entry[0].lower().endswith((".xhtml", ".html", ".htm"))):
            order.append(entry[0])
    return order


def _open(path: Path, limits: Limits) -> tuple[ZipArchive, set[str]]:
    zf = open_zip(path)
    try:
        infos = check_zip(zf, limits)
        check_xml_prologs(zf, infos, allow_doctype=True)
        names = {info.filename for info in infos}
        if "META-INF/encryption.xml" in names:
            raise DocumentError(ErrorCode.ENCRYPTED, "The EPUB is encrypted (DRM) and cannot be read.")
    except BaseException:
        zf.close()
        raise
    return zf, names


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    zf, names = _open(path, limits)
    with zf:
        opf_path, opf = _package(zf, names)
        chapters = _spine(opf_path, opf)
    if len(chapters) > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The book has {len(chapters)} chapters; the limit is {limits.max_pages}."
        )
    return {"chapters": len(chapters)}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    zf, names = _open(path, limits)
    pages: list[Page] = []
    remaining = limits.max_text_chars
    with zf:
        opf_path, opf = _package(zf, names)
        for name in _spine(opf_path, opf)[: limits.max_pages]:
            if name not in names or remaining <= 0:
                continue
            if zf.getinfo(name).file_size > MAX_CHAPTER_BYTES:
                raise DocumentError(ErrorCode.TOO_LARGE, "A chapter of the EPUB is larger than we accept.")
            markup, _ = decode_html(zf.read(name))
            text = html_to_text(markup, remaining)
            if text:
                pages.append(Page(number=len(pages) + 1, text=text))
                remaining -= len(text)
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    zf, names = _open(path, limits)
    with zf:
        opf_path, opf = _package(zf, names)
    metadata = opf.find(f"{OPF}metadata")

    def first(tag: str) -> str | None:
        if metadata is None:
            return None
        element = metadata.find(f"{DC}{tag}")
        return clean_inline(element.text or "", 2000) or None if element is not None else None

    creators = [clean_inline(e.text or "", 500) for e in metadata.iter(f"{DC}creator")] if metadata is not None else []
    modified = None
    if metadata is not None:
        for element in metadata.iter(f"{OPF}meta"):
            if element.get("property") == "dcterms:modified":
                modified = iso_date(element.text)
    pages = extract_pages(path, limits)
    return drop_empty(
        {
            "title": first("title"),
            "author": ", ".join(c for c in creators if c) or None,
            "subject": first("subject"),
            "creator": None,
            "producer": first("publisher"),
            "created_at": iso_date(first("date")),
            "modified_at": modified,
            "epub": drop_empty(
                {
                    "version": opf.get("version"),
                    "identifier": first("identifier"),
                    "publisher": first("publisher"),
                    "rights": first("rights"),
                    "declared_language": first("language"),
                    "chapters": len(pages),
                }
            ),
        }
    ) | {"pages": len(pages)}


#: EPUB books.
FAMILY = ModuleFamily(
    "epub",
    (FileType("epub", "application/epub+zip"),),
    __name__,
)
