"""PPTX: one page per slide, with shapes, tables, groups and speaker notes.

python-pptx reads the package after the zip gate. Group shapes nest, so shapes
are walked with an explicit stack and a depth cap. Notes are included after the
slide text because speakers often put the real content there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ooxml import app_properties, core_properties, open_package
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

MAX_GROUP_DEPTH = 50
MAX_SHAPES = 10_000


def _load(path: Path, limits: Limits) -> Any:
    import pptx

    open_package(path, limits)
    try:
        return pptx.Presentation(str(path))
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - python-pptx raises many types on damaged packages
        raise DocumentError(ErrorCode.MALFORMED, "The PowerPoint file is damaged and cannot be read.") from exc


def _shape_texts(shapes: Any) -> list[str]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    texts: list[str] = []
    stack = [(shape, 0) for shape in reversed(list(shapes))]
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
        try:
            shape_type = shape.shape_type
        except Exception:  # noqa: BLE001 - unknown shape types raise NotImplementedError
            shape_type = None
        if shape_type == MSO_SHAPE_TYPE.GROUP:
            stack.extend((child, depth + 1) for child in reversed(list(shape.shapes)))
            continue
        if getattr(shape, "has_table", False):
            for row in shape.table.rows:
                cells = [cell.text.strip() for cell in row.cells]
                texts.append(" | ".join(cells))
            continue
        if getattr(shape, "has_text_frame", False):
            text = shape.text_frame.text.strip()
            if text:
                texts.append(text)
    return texts


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    presentation = _load(path, limits)
    count = len(presentation.slides)
    if count > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The presentation has {count} slides; the limit is {limits.max_pages}."
        )
    return {"slides": count}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    presentation = _load(path, limits)
    pages: list[Page] = []
    size = 0
    for number, slide in enumerate(presentation.slides, start=1):
        if number > limits.max_pages:
            raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The presentation has more than {limits.max_pages} slides.")
        text = ""
        if size <= limits.max_text_chars:
            parts = _shape_texts(slide.shapes)
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame
                if notes is not None and notes.text.strip():
                    parts.append(notes.text.strip())
            text = clean_text("\n\n".join(parts).replace("\x0b", "\n"))
            size += len(text)
        pages.append(Page(number=number, text=text))
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    presentation = _load(path, limits)
    core = core_properties(presentation.core_properties)
    app = app_properties(path)
    detail = drop_empty(
        {
            **{k: core.pop(k) for k in ("last_modified_by", "revision", "category", "comments", "declared_language")},
            **{k: v for k, v in app.items() if k != "creator"},
            "slide_width": int(presentation.slide_width or 0) or None,
            "slide_height": int(presentation.slide_height or 0) or None,
        }
    )
    count = len(presentation.slides)
    return drop_empty(core) | drop_empty({"creator": app.get("creator")}) | {"pages": count, "pptx": detail}


#: PowerPoint presentations.
FAMILY = ModuleFamily(
    "pptx",
    (FileType("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),),
    __name__,
)
