"""DOCX (Word 2007+): text in body order, split at the pages Word last rendered.

python-docx gives the package, core properties and the body element; we walk
the body XML ourselves with ``iterwalk`` because python-docx's paragraph API
loses tables' position and page breaks, and recursion over nested tables is a
stack risk. Word records where it broke pages (``w:lastRenderedPageBreak``) and
where the author forced a break (``w:br w:type="page"``); both split pages, so
page numbers match what a reader of the document saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ooxml import app_properties, core_properties, open_package
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_T, _TAB, _BR, _CR, _P, _TC, _TR = (f"{W}{n}" for n in ("t", "tab", "br", "cr", "p", "tc", "tr"))
_RENDERED = f"{W}lastRenderedPageBreak"
_SKIP = {f"{W}{n}" for n in ("delText", "instrText", "del", "sectPr", "rPr", "pPr")}
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
    """Walk a WordprocessingML body (or header) element into pages."""
    from lxml import etree

    pages = _Pages(limits.max_text_chars)
    cell_depth = 0
    skip_depth = 0
    depth = 0
    for event, element in etree.iterwalk(body, events=("start", "end")):
        tag = element.tag
        if event == "start":
            depth += 1
            if depth > MAX_NESTING:
                raise DocumentError(
                    ErrorCode.NESTING_TOO_DEEP, "The document nests its content too deeply to be read safely."
                )
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
        else:
            depth -= 1
            if tag in _SKIP:
                skip_depth -= 1
                continue
            if skip_depth:
                continue
            if tag == _P:
                pages.add(" " if cell_depth else "\n")
            elif tag == _TC:
                cell_depth -= 1
                pages.trim()
                pages.add(" | ")
            elif tag == _TR:
                pages.add("\n")
        if pages.size > pages.budget:
            break
    return pages.result()


def _load(path: Path) -> Any:
    import docx

    open_package(path)
    try:
        return docx.Document(str(path))
    except DocumentError:
        raise
    except KeyError as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The Word document is missing a required part.") from exc
    except Exception as exc:  # noqa: BLE001 - python-docx raises many types on damaged packages
        raise DocumentError(ErrorCode.MALFORMED, "The Word document is damaged and cannot be read.") from exc


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    _load(path)
    return {}


def _header_footer_text(document: Any, limits: Limits) -> str:
    """Distinct header and footer text, once: it repeats on every page otherwise."""
    seen: list[str] = []
    for section in list(document.sections)[:100]:
        for part in (section.header, section.footer, section.first_page_header, section.first_page_footer):
            try:
                if part.is_linked_to_previous:
                    continue
                element = part._element  # the hdr/ftr root; python-docx has no public accessor
            except Exception:  # noqa: BLE001 - a missing header part is not an error
                continue
            for page in body_pages(element, limits):
                text = page.text.strip()
                if text and text not in seen:
                    seen.append(text)
    return "\n".join(seen)


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    document = _load(path)
    pages = body_pages(document.element.body, limits)
    extra = _header_footer_text(document, limits)
    if extra:
        pages[-1].text = (pages[-1].text + "\n\n" + extra).strip()
    return cap_pages_text(pages, limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    document = _load(path)
    core = core_properties(document.core_properties)
    app = app_properties(path)
    detail = drop_empty(
        {
            **{
                k: core.pop(k)
                for k in ("last_modified_by", "revision", "category", "comments", "declared_language")
                if k in core
            },
            **{k: v for k, v in app.items() if k != "creator"},
            "paragraphs": len(document.element.body.findall(_P)),
            "tables": len(document.tables),
            "sections": len(document.sections),
        }
    )
    pages = len(body_pages(document.element.body, limits))
    return drop_empty(core) | drop_empty({"creator": app.get("creator")}) | {"pages": pages, "docx": detail}


#: Word documents.
FAMILY = ModuleFamily(
    "docx",
    (FileType("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),),
    __name__,
)
