"""Plain text, Markdown, reStructuredText and Org: decoded, cleaned, one page.

Lightweight markup stays as written: headings (``#``, ``===``, ``*``) are what
the chunker uses to cut at structure, and the markup characters do no harm to
search. Form feeds are real page breaks in plain text, so they split pages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.encoding import read_text
from aegis.formats.sanitize import cap_pages_text, clean_text
from aegis.vocabulary import ErrorCode

MARKUP = {"md": "markdown", "markdown": "markdown", "rst": "restructuredtext", "org": "org"}


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    """Decode the file once to learn its encoding and refuse binary or blank files."""
    text, encoding = read_text(path, limits.max_bytes)
    if not text.strip():
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file contains only whitespace, no text.")
    pages = text.count("\f") + 1
    if pages > limits.max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The text has {pages} pages; the limit is {limits.max_pages}.")
    return {"encoding": encoding}


def _pages(text: str) -> list[Page]:
    parts = text.split("\f") if "\f" in text else [text]
    return [Page(number=i + 1, text=part) for i, part in enumerate(parts)]


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    encoding = detection.details.get("encoding") if detection else None
    text, _ = read_text(path, limits.max_bytes, encoding)
    text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))
    return cap_pages_text(_pages(text), limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    encoding = detection.details.get("encoding") if detection else None
    text, used = read_text(path, limits.max_bytes, encoding)
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    detail: dict[str, Any] = {"encoding": used, "lines": lines, "characters": len(text)}
    suffix = detection.extension if detection else path.suffix.lower().lstrip(".")
    markup = MARKUP.get(suffix)
    if markup:
        detail["markup"] = markup
    title = _title(text, markup)
    meta: dict[str, Any] = {"pages": len(_pages(text)), "text": detail}
    if title:
        meta["title"] = title
    return meta


def _title(text: str, markup: str | None) -> str | None:
    """The first heading of a marked-up file, which is what its author called it."""
    if markup is None:
        return None
    lines = text[:20_000].splitlines()
    for i, line in enumerate(lines[:200]):
        stripped = line.strip()
        if markup == "markdown" and stripped.startswith("# "):
            return clean_text(stripped[2:].strip())[:500] or None
        if markup == "org" and stripped.lower().startswith("#+title:"):
            return clean_text(stripped[8:].strip())[:500] or None
        if markup == "org" and stripped.startswith("* "):
            return clean_text(stripped[2:].strip())[:500] or None
        if markup == "restructuredtext" and stripped and i + 1 < len(lines):
            underline = lines[i + 1].strip()
            if len(underline) >= len(stripped) and len(set(underline)) == 1 and underline[0] in "=-~#*^\"'`":
                return clean_text(stripped)[:500] or None
    return None


#: Plain text and lightweight markup (Markdown, reStructuredText, Org).
FAMILY = ModuleFamily(
    "text",
    (
        FileType("txt", "text/plain"),
        FileType("text", "text/plain"),
        FileType("log", "text/plain"),
        FileType("md", "text/markdown"),
        FileType("markdown", "text/markdown"),
        FileType("rst", "text/x-rst"),
        FileType("org", "text/x-org"),
    ),
    __name__,
    textual=True,
)
