"""CSV and TSV: the header and the rows, with the delimiter found by content.

Files called ``.csv`` are separated by commas, semicolons (most of Europe), tabs
or pipes; the sniffer looks at a sample and picks among those only, because an
unconstrained sniffer happily picks a letter. Rows become lines of ``a | b | c``
so a row stays one retrievable unit of text.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.encoding import read_text
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text
from aegis.vocabulary import ErrorCode

_DELIMITERS = ",;\t|"
_SAMPLE = 64 * 1024
# csv's default (128 KiB) rejects big cells; a field of a few MiB is still a table.
_FIELD_LIMIT = 8 * 1024 * 1024


def sniff_delimiter(text: str, extension: str = "") -> str:
    """Pick the delimiter that splits the sample into the most consistent columns."""
    if extension == "tsv":
        return "\t"
    sample = text[:_SAMPLE]
    if len(text) > _SAMPLE:
        sample = sample[: sample.rfind("\n") + 1] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    lines = [line for line in sample.splitlines()[:50] if line.strip()]
    best, best_score = ",", -1.0
    for delimiter in _DELIMITERS:
        counts = [line.count(delimiter) for line in lines]
        if not counts or max(counts) == 0:
            continue
        score = sum(1 for c in counts if c == counts[0]) / len(counts) + min(counts[0], 50) / 100
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _rows(text: str, delimiter: str, max_rows: int | None = None) -> list[list[str]]:
    csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if max_rows is not None and len(rows) >= max_rows:
                break
    except csv.Error as exc:
        raise DocumentError(ErrorCode.MALFORMED, f"The table cannot be read: {clean_inline(str(exc), 200)}.") from exc
    return rows


def _load(path: Path, limits: Limits, detection: Detection | None) -> tuple[str, str, str]:
    encoding = detection.details.get("encoding") if detection else None
    text, used = read_text(path, limits.max_bytes, encoding)
    extension = detection.extension if detection else path.suffix.lower().lstrip(".")
    delimiter = (detection.details.get("delimiter") if detection else None) or sniff_delimiter(text, extension)
    return text, used, delimiter


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    text, encoding, delimiter = _load(path, limits, detection)
    if not text.strip():
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file contains only whitespace, no table.")
    _rows(text[: _SAMPLE * 4], delimiter, max_rows=1000)
    return {"encoding": encoding, "delimiter": delimiter}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    text, _, delimiter = _load(path, limits, detection)
    out: list[str] = []
    size = 0
    for row in _rows(text, delimiter):
        line = " | ".join(cell.strip() for cell in row)
        if not line.strip(" |"):
            continue
        out.append(line)
        size += len(line) + 1
        if size > limits.max_text_chars:
            break
    page = Page(number=1, text=clean_text("\n".join(out)))
    return cap_pages_text([page], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    text, encoding, delimiter = _load(path, limits, detection)
    rows = _rows(text, delimiter)
    header = [clean_inline(cell, 200) for cell in rows[0][:500]] if rows else []
    return {
        "pages": 1,
        "csv": {
            "encoding": encoding,
            "delimiter": delimiter,
            "columns": len(header),
            "header": header,
            "rows": max(0, len(rows) - 1),
        },
    }


#: Comma- and tab-separated tables.
FAMILY = ModuleFamily(
    "csv",
    (
        FileType("csv", "text/csv"),
        FileType("tsv", "text/tab-separated-values"),
    ),
    __name__,
    textual=True,
)
