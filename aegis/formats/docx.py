"""DOCX (Word 2007+): text in body order, split at the pages Word last rendered.

The package is read once (aegis.formats.ooxml.Package) and the body XML walked
with ``iterwalk``, raising events only for the elements that carry text or
structure: no python-docx object model (its paragraph API loses tables' position
and page breaks, and building it cost more than the text). Word records where it
broke pages (``w:lastRenderedPageBreak``) and where the author forced a break
(``w:br w:type="page"``); both split pages, so page numbers match what a reader
of the document saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ooxml import Package, package_properties
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_T, _TAB, _BR, _CR, _P, _TC, _TR = (f"{W}{n}" for n in ("t", "tab", "br", "cr", "p", "tc", "tr"))
_RENDERED = f"{W}lastRenderedPageBreak"
# Skipped with everything inside: deleted runs, and paragraph properties (their w:tabs
# hold tab stops, not tabs). Other properties hold nothing the walk looks at.
_SKIP = {f"{W}{n}" for n in ("del", "pPr")}
_WALKED = [_T, _TAB, _BR, _CR, _P, _TC, _TR, _RENDERED, *_SKIP]
MAX_NESTING = 200


class _Pages:
    """Accumulates text and starts a new page at breaks (collapsing repeats)."""

    def __init__(self, budget: int) -> None:
        self.pages: list[list[str]] = [[]]
        self.size = 0
        self.budget = budget

    def add(self, text: str) -> None:
        self.pages[-1].append(text)
        self.size += len(text)

    def trim(self) -> None:
        """Drop trailing spaces (the separator after a cell's last paragraph)."""
        parts = self.pages[-1]
        while parts and parts[-1].endswith(" "):
            parts[-1] = parts[-1].rstrip(" ")
            if parts[-1]:
                break
            parts.pop()

    def page_break(self) -> None:
        if "".join(self.pages[-1]).strip():
            self.pages.append([])

    def result(self) -> list[Page]:
        texts = ["".join(parts) for parts in self.pages]
        while len(texts) > 1 and not texts[-1].strip():
            texts.pop()
        return [Page(number=i + 1, text=_tidy(text)) for i, text in enumerate(texts)]


def _tidy(text: str) -> str:
    lines = [line.rstrip(" |\t") if "|" in line else line.rstrip() for line in text.split("\n")]
    out = "\n".join(lines).strip("\n")
    while "\n\n\n" in out:
        out = out.replace("\n\n\n", "\n\n")
    return clean_text(out)


def body_pages(body: Any, limits: Limits) -> list[Page]:
    """Walk a WordprocessingML body (or header) element into pages.

    Only the elements that carry text or structure raise events (lxml filters the
    rest in C), which is most of the speed on long documents; the parser's own depth
    limit (256) bounds nesting, and nested table cells are capped here too.
    """
    from lxml import etree

    pages = _Pages(limits.max_text_chars)
    cell_depth = 0
    skip_depth = 0
    for event, element in etree.iterwalk(body, events=("start", "end"), tag=_WALKED):
        tag = element.tag
        if event == "start":
            if tag in _SKIP:
                skip_depth += 1
            if skip_depth:
                continue
            if tag == _T:
                if element.text:
                    pages.add(element.text)
            elif tag == _TAB:
                pages.add("\t")
            elif tag == _BR:
                if element.get(f"{W}type") == "page":
                    pages.page_break()
                else:
                    pages.add("\n")
            elif tag == _CR:
                pages.add("\n")
            elif tag == _RENDERED:
                pages.page_break()
            elif tag == _TC:
                cell_depth += 1
                if cell_depth > MAX_NESTING:
                    raise DocumentError(
                        ErrorCode.NESTING_TOO_DEEP, "The document nests its content too deeply to be read safely."
                    )
        else:
            if tag in _SKIP:
                skip_depth -= 1
                continue
            if skip_depth:
                continue
            if tag == _P:
                pages.add(" " if cell_depth else "\n")
                if pages.size > pages.budget:
                    break
            elif tag == _TC:
                cell_depth -= 1
                pages.trim()
                pages.add(" | ")
            elif tag == _TR:
                pages.add("\n")
    return pages.result()


_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_HEADERS_FOOTERS = (("headerReference", "default"), ("footerReference", "default"),
                    ("headerReference", "first"), ("footerReference", "first"))
MAX_SECTIONS = 100


def _main_part_name(package: Package) -> str:
    return next(
        (target for kind, target in package.rels("").values() if kind.endswith("/officeDocument")),
        "word/document.xml",
    )


def _main_part(package: Package) -> tuple[str, Any]:
    """The main document part's name and its w:body element."""
    name = _main_part_name(package)
    root = package.part(name)
    body = root.find(f"{W}body") if root is not None else None
    if body is None:
        raise DocumentError(ErrorCode.MALFORMED, "The Word document is missing a required part.")
    return name, body


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    # The gate only: the main part is parsed (and judged) once, by the stage that reads it.
    with Package(path, limits, detection=detection) as package:
        name = _main_part_name(package)
        if name not in package.names:
            raise DocumentError(ErrorCode.MALFORMED, "The Word document is missing a required part.")
        package.check_prolog(name)
    return {}


def _header_footer_text(package: Package, name: str, body: Any, limits: Limits) -> str:
    """Distinct header and footer text, once: it repeats on every page otherwise.

    Each section's default and first-page header and footer, in section order; a
    section without its own (linked to the previous one) adds nothing.
    """
    rels = package.rels(name)
    seen: list[str] = []
    sections = body.xpath("./w:p/w:pPr/w:sectPr | ./w:sectPr", namespaces={"w": W[1:-1]})
    for section in sections[:MAX_SECTIONS]:
        for reference, kind in _HEADERS_FOOTERS:
            ref = next((r for r in section.iterchildren(f"{W}{reference}") if r.get(f"{W}type") == kind), None)
            rel = rels.get(ref.get(f"{_R}id") or "") if ref is not None else None
            element = package.part(rel[1]) if rel is not None else None
            if element is None:
                continue
            for page in body_pages(element, limits):
                text = page.text.strip()
                if text and text not in seen:
                    seen.append(text)
    return "\n".join(seen)


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    with Package(path, limits) as package:
        name, body = _main_part(package)
        pages = body_pages(body, limits)
        extra = _header_footer_text(package, name, body, limits)
    if extra:
        pages[-1].text = (pages[-1].text + "\n\n" + extra).strip()
    return cap_pages_text(pages, limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    with Package(path, limits) as package:
        core, app = package_properties(package)
        _, body = _main_part(package)
        pages = len(body_pages(body, limits))
        moved = ("last_modified_by", "revision", "category", "comments", "declared_language")
        detail = drop_empty(
            {
                **{k: core.pop(k) for k in moved},
                **{k: v for k, v in app.items() if k != "creator"},
                "paragraphs": len(body.findall(_P)),
                "tables": len(body.findall(f"{W}tbl")),
                "sections": len(body.xpath("./w:p/w:pPr/w:sectPr | ./w:sectPr", namespaces={"w": W[1:-1]})),
            }
        )
    return drop_empty(core) | drop_empty({"creator": app.get("creator")}) | {"pages": pages, "docx": detail}


#: Word documents.
FAMILY = ModuleFamily(
    "docx",
    (FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),),
    __name__,
)
