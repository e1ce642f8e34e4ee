"""Make extracted strings safe to store, index and show.

Every string that leaves aegis.formats passes through here, because the places it
goes have rules of their own: PostgreSQL rejects NUL in text columns and lone
surrogates in UTF-8, JSON columns reject bytes and datetimes, and bidi override
characters let a file name or a snippet display as something other than it is.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

# C0/C1 controls except tab, newline, carriage return and form feed (a page break).
_CONTROL = (
    "".join(chr(c) for c in range(0x20) if chr(c) not in "\t\n\r\f")
    + "\x7f"
    + "".join(chr(c) for c in range(0x80, 0xA0))
)
# Bidi embeddings, overrides and isolates, and the invisible characters that only
# serve to disguise text. ZWJ/ZWNJ stay: Persian, Indic scripts and emoji need them.
_INVISIBLE = "\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2060\u2066\u2067\u2068\u2069\ufeff"
# A character class, not str.translate: translate looks every character up in a dict
# in Python, which on a long document cost more than parsing it; re scans in C.
_DELETE = re.compile("[" + re.escape(_CONTROL + _INVISIBLE) + "]+")
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Drop NULs, control and bidi-override characters; replace lone surrogates."""
    if not text:
        return ""
    text = _DELETE.sub("", text)
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)
    return text


def clean_inline(text: str, max_chars: int = 2000) -> str:
    """A single-line value (a title, a header): cleaned, whitespace collapsed, capped."""
    return " ".join(clean_text(text).split())[:max_chars]


def json_safe(value: Any, *, depth: int = 0, max_items: int = 1000) -> Any:
    """Turn library values into plain JSON types, so metadata always serialises.

    Bytes become text (decoded leniently), datetimes ISO 8601, unknown objects their
    ``str``. Depth and breadth are capped: metadata comes from the file and a
    hostile file controls its shape.
    """
    if depth > 20:
        return None
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, str):
        return clean_text(value)[:10_000]
    if isinstance(value, bytes | bytearray):
        return clean_text(bytes(value[:10_000]).decode("utf-8", "replace"))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (key, item) in enumerate(value.items()):
            if i >= max_items:
                break
            out[clean_inline(str(key), 200)] = json_safe(item, depth=depth + 1, max_items=max_items)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item, depth=depth + 1, max_items=max_items) for item in list(value)[:max_items]]
    return clean_text(str(value))[:10_000]


def drop_empty(meta: dict[str, Any]) -> dict[str, Any]:
    """Leave out keys whose value says nothing, so clients can test for presence."""
    return {k: v for k, v in meta.items() if v not in (None, "", [], {})}


def cap_pages_text(pages: list[Any], max_chars: int) -> list[Any]:
    """Cut text so the document's total stays within ``max_chars``.

    Pages after the budget is spent are kept (with empty text) so page numbers stay
    meaningful; the cut falls on a whitespace boundary where one is near.
    """
    remaining = max_chars
    for page in pages:
        if remaining <= 0:
            page.text = ""
            continue
        if len(page.text) > remaining:
            cut = page.text[:remaining]
            space = cut.rfind(" ", max(0, remaining - 200))
            page.text = cut[:space] if space > 0 else cut
        remaining -= len(page.text)
    return pages
