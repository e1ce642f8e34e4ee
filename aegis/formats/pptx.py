"""PPTX: one page per slide, with shapes, tables, groups and speaker notes.

Slides are read from the package's XML (aegis.formats.ooxml.Package) in the
order presentation.xml lists them, each shape tree in z-order as python-pptx
would, without building its object model. Group shapes nest, so shapes are
walked with an explicit stack and a depth cap. Notes are included after the
slide text because speakers often put the real content there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ooxml import Package, child, package_properties
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

MAX_GROUP_DEPTH = 50
MAX_SHAPES = 10_000


P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_T, _TXBODY, _A_TXBODY = f"{A}t", f"{P}txBody", f"{A}txBody"
# Tags compared per element, built once (an f-string in the loop builds a new string each time).
_A_P, _A_R, _A_FLD, _A_BR, _A_TR, _A_TC = f"{A}p", f"{A}r", f"{A}fld", f"{A}br", f"{A}tr", f"{A}tc"
_GROUP, _SHAPE, _FRAME = f"{P}grpSp", f"{P}sp", f"{P}graphicFrame"
_SHAPE_TREE = (f"{P}cSld", f"{P}spTree")
_GRAPHIC_TABLE = (f"{A}graphic", f"{A}graphicData", f"{A}tbl")
_PLACEHOLDER = (f"{P}nvSpPr", f"{P}nvPr", f"{P}ph")


def _path(element: Any, tags: tuple[str, ...]) -> Any:
    """``element.find("a/b/c")`` by direct children (see aegis.formats.ooxml.child)."""
    for tag in tags:
        element = child(element, tag)
        if element is None:
            return None
    return element

_SLIDE_REL = "/slide"
_NOTES_REL = "/notesSlide"
_NOTES_TYPE = "presentationml.notesSlide+xml"


def _frame_text(body: Any) -> str:
    """A text body's paragraphs, one per line; runs and fields joined, breaks as new lines."""
    paragraphs = []
    for paragraph in body.iterchildren(_A_P):
        parts = []
        for element in paragraph.iterchildren(_A_R, _A_FLD, _A_BR):
            if element.tag == _A_BR:
                parts.append("\n")
                continue
            for sub in element:  # child_text(element, _T), inlined: runs are the hot path
                if sub.tag == _T:
                    if sub.text:
                        parts.append(sub.text)
                    break
        paragraphs.append("".join(parts))
    return "\n".join(paragraphs)


def _tree_texts(tree: Any) -> list[str]:
    """Texts of a slide's shape tree in z-order: text frames, tables as rows, groups opened."""
    texts: list[str] = []
    stack = [(shape, 0) for shape in reversed(list(tree))]
    seen = 0
    while stack:
        shape, depth = stack.pop()
        seen += 1
        if seen > MAX_SHAPES:
            break
        if depth > MAX_GROUP_DEPTH:
            raise DocumentError(
                ErrorCode.NESTING_TOO_DEEP, "The presentation nests shapes too deeply to be read safely."
            )
        tag = shape.tag
        if tag == _GROUP:
            stack.extend((child, depth + 1) for child in reversed(list(shape)))
        elif tag == _SHAPE:
            body = child(shape, _TXBODY)
            text = _frame_text(body).strip() if body is not None else ""
            if text:
                texts.append(text)
        elif tag == _FRAME:
            table = _path(shape, _GRAPHIC_TABLE)
            if table is None:
                continue
            for row in table.iterchildren(_A_TR):
                cells = []
                for cell in row.iterchildren(_A_TC):
                    body = child(cell, _A_TXBODY)
                    cells.append(_frame_text(body).strip() if body is not None else "")
                texts.append(" | ".join(cells))
    return texts


def _notes_text(notes: Any) -> str:
    """The notes placeholder's text (the body placeholder of the notes slide)."""
    tree = _path(notes, _SHAPE_TREE)
    for shape in tree.iter(f"{P}sp") if tree is not None else ():
        placeholder = _path(shape, _PLACEHOLDER)
        if placeholder is not None and placeholder.get("type") == "body":
            body = child(shape, _TXBODY)
            return _frame_text(body).strip() if body is not None else ""
    return ""


def _slide_parts(package: Package) -> list[str]:
    """The slides' part names in presentation order."""
    main = "ppt/presentation.xml"
    root = package.part(main)
    if root is None:
        raise DocumentError(ErrorCode.MALFORMED, "The PowerPoint file has no presentation part.")
    rels = package.rels(main)
    slides = []
    listed = child(root, f"{P}sldIdLst")
    for slide_id in listed.iterchildren(f"{P}sldId") if listed is not None else ():
        rel = rels.get(slide_id.get(f"{R}id") or "")
        if rel is None or not rel[0].endswith(_SLIDE_REL):
            raise DocumentError(ErrorCode.MALFORMED, "The PowerPoint file lists a slide it does not contain.")
        slides.append(rel[1])
    return slides


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    with Package(path, limits, detection=detection) as package:
        count = len(_slide_parts(package))
    if count > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The presentation has {count} slides; the limit is {limits.max_pages}."
        )
    return {"slides": count}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    pages: list[Page] = []
    size = 0
    with Package(path, limits, detection=detection) as package:
        with_notes = package.declares(_NOTES_TYPE)
        for number, name in enumerate(_slide_parts(package), start=1):
            if number > limits.max_pages:
                raise DocumentError(
                    ErrorCode.TOO_MANY_PAGES, f"The presentation has more than {limits.max_pages} slides."
                )
            text = ""
            if size <= limits.max_text_chars:
                slide = package.part(name)
                if slide is None:
                    raise DocumentError(ErrorCode.MALFORMED, "The PowerPoint file is missing a slide part.")
                tree = _path(slide, _SHAPE_TREE)
                parts = _tree_texts(tree) if tree is not None else []
                # A slide's relationships are read for its notes only: skipped in a deck without any.
                notes = (
                    next((t for kind, t in package.rels(name).values() if kind.endswith(_NOTES_REL)), None)
                    if with_notes
                    else None
                )
                notes_root = package.part(notes) if notes else None
                if notes_root is not None and (note := _notes_text(notes_root)):
                    parts.append(note)
                text = clean_text("\n\n".join(parts).replace("\x0b", "\n"))
                size += len(text)
            pages.append(Page(number=number, text=text))
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    with Package(path, limits, detection=detection) as package:
        core, app = package_properties(package)
        count = len(_slide_parts(package))
        size = package.part("ppt/presentation.xml").find(f"{P}sldSz")
    detail = drop_empty(
        {
            **{k: core.pop(k) for k in ("last_modified_by", "revision", "category", "comments", "declared_language")},
            **{k: v for k, v in app.items() if k != "creator"},
            "slide_width": _emu(size, "cx"),
            "slide_height": _emu(size, "cy"),
        }
    )
    return drop_empty(core) | drop_empty({"creator": app.get("creator")}) | {"pages": count, "pptx": detail}


def _emu(element: Any, attribute: str) -> int | None:
    value = element.get(attribute) if element is not None else None
    return int(value) if value and value.isdigit() and len(value) < 12 else None


#: PowerPoint presentations.
FAMILY = ModuleFamily(
    "pptx",
    (FileType("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),),
    __name__,
)
