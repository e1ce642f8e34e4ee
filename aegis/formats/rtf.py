"""RTF: text via striprtf, properties from the ``\\info`` group.

striprtf is a small, pure-Python converter that handles the control words,
Unicode escapes (``\\uN``) and code-page escapes (``\\'hh``) that real RTF uses.
It keeps its state on a list, not the call stack, so deep group nesting is safe.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

_INFO_FIELD = re.compile(r"\{\\(title|author|subject|keywords|operator|doccomm|company)\s+((?:[^{}\\]|\\.)*)\}")
_INFO_DATE = re.compile(r"\{\\(creatim|revtim)((?:\\(?:yr|mo|dy|hr|min|sec)\d+)+)\}")
_DATE_PART = re.compile(r"\\(yr|mo|dy|hr|min|sec)(\d+)")


def _read(path: Path, limits: Limits) -> str:
    with path.open("rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE)
    if not data.lstrip().startswith(b"{\\rtf"):
        raise DocumentError(ErrorCode.TYPE_MISMATCH, "The file is not RTF, whatever its name says.")
    # RTF is 7-bit; anything else is escaped. latin-1 maps every byte, losslessly.
    return data.decode("latin-1")


_CODEPAGE = re.compile(r"\\ansicpg(\d{3,5})")


def _encoding(raw: str) -> str:
    """The code page the header declares for ``\\'hh`` escapes (cp1252 if none or unknown)."""
    import codecs

    match = _CODEPAGE.search(raw[:2000])
    if match:
        name = f"cp{match.group(1)}"
        try:
            codecs.lookup(name)
            return name
        except LookupError:
            pass
    return "cp1252"


def _text(raw: str) -> str:
    from striprtf.striprtf import rtf_to_text

    try:
        text = rtf_to_text(raw, encoding=_encoding(raw), errors="replace")
    except (ValueError, IndexError, LookupError) as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The RTF document is damaged and cannot be read.") from exc
    return clean_text(text.replace("\r\n", "\n"))


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    _read(path, limits)
    return {}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    text = _text(_read(path, limits))
    parts = [part.strip("\n") for part in text.split("\f")] if "\f" in text else [text.strip()]
    pages = [Page(number=i + 1, text=part) for i, part in enumerate(parts)]
    return cap_pages_text(pages, limits.max_text_chars)


def _info_date(spec: str) -> str | None:
    parts = {k: int(v) for k, v in _DATE_PART.findall(spec)}
    try:
        from datetime import datetime

        return datetime(
            parts["yr"],
            parts.get("mo", 1),
            parts.get("dy", 1),
            parts.get("hr", 0),
            parts.get("min", 0),
            parts.get("sec", 0),
        ).isoformat()
    except (KeyError, ValueError):
        return None


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    raw = _read(path, limits)
    head = raw[:200_000]
    info: dict[str, str] = {}
    for key, value in _INFO_FIELD.findall(head):
        info.setdefault(key, clean_inline(_text("{\\rtf1 " + value + "}"), 2000))
    dates = {key: _info_date(spec) for key, spec in _INFO_DATE.findall(head)}
    return drop_empty(
        {
            "pages": 1,
            "title": info.get("title"),
            "author": info.get("author"),
            "subject": info.get("subject"),
            "keywords": info.get("keywords"),
            "created_at": dates.get("creatim"),
            "modified_at": dates.get("revtim"),
            "rtf": drop_empty(
                {
                    "last_modified_by": info.get("operator"),
                    "company": info.get("company"),
                    "comments": info.get("doccomm"),
                }
            ),
        }
    ) | {"pages": 1}


#: Rich Text Format documents.
FAMILY = ModuleFamily(
    "rtf",
    (FileType("rtf", "text/rtf"),),
    __name__,
)
