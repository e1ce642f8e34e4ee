"""JSON and NDJSON: values as ``path: value`` lines, so keys give them context.

Pretty-printed JSON is mostly punctuation; search and chunking work better on
``user.name: Ada`` lines. The walk is iterative (documents can nest thousands
deep) and Python's parser raising RecursionError is reported as nesting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.encoding import read_text
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text
from aegis.vocabulary import ErrorCode

MAX_DEPTH = 500


def _is_ndjson(text: str, extension: str) -> bool:
    return extension in {"ndjson", "jsonl"}


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise DocumentError(ErrorCode.NESTING_TOO_DEEP, "The JSON nests too deeply to be read safely.") from exc
    except (ValueError, MemoryError) as exc:
        raise DocumentError(ErrorCode.MALFORMED, f"The JSON is not valid: {clean_inline(str(exc), 200)}.") from exc


def _parse(path: Path, limits: Limits, detection: Detection | None) -> tuple[list[Any], bool, str]:
    encoding = detection.details.get("encoding") if detection else None
    text, used = read_text(path, limits.max_bytes, encoding)
    if not text.strip():
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file contains only whitespace, no JSON.")
    extension = detection.extension if detection else path.suffix.lower().lstrip(".")
    if _is_ndjson(text, extension):
        records = [_loads(line) for line in text.splitlines() if line.strip()]
        return records, True, used
    return [_loads(text)], False, used


def _lines(value: Any, out: list[str], budget: int) -> None:
    """Flatten to ``path: value`` lines with an explicit stack."""
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    size = 0
    while stack and size < budget:
        prefix, current, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(ErrorCode.NESTING_TOO_DEEP, "The JSON nests too deeply to be read safely.")
        if isinstance(current, dict):
            for key, item in reversed(list(current.items())):
                stack.append((f"{prefix}.{key}" if prefix else str(key), item, depth + 1))
        elif isinstance(current, list):
            for index in range(len(current) - 1, -1, -1):
                stack.append((f"{prefix}[{index}]", current[index], depth + 1))
        elif current is not None and current != "":
            line = f"{prefix}: {current}" if prefix else str(current)
            out.append(line)
            size += len(line) + 1


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    records, ndjson, encoding = _parse(path, limits, detection)
    return {"encoding": encoding, "ndjson": ndjson}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    records, ndjson, _ = _parse(path, limits, detection)
    out: list[str] = []
    for record in records:
        _lines(record, out, limits.max_text_chars)
        if ndjson:
            out.append("")
    return cap_pages_text([Page(number=1, text=clean_text("\n".join(out).strip()))], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    records, ndjson, encoding = _parse(path, limits, detection)
    detail: dict[str, Any] = {"encoding": encoding, "ndjson": ndjson}
    if ndjson:
        detail["records"] = len(records)
    else:
        top = records[0]
        detail["type"] = type(top).__name__.replace("dict", "object").replace("list", "array")
        if isinstance(top, list):
            detail["records"] = len(top)
        elif isinstance(top, dict):
            detail["keys"] = [clean_inline(str(k), 200) for k in list(top)[:100]]
    return {"pages": 1, "json": detail}


#: JSON documents and newline-delimited JSON streams.
FAMILY = ModuleFamily(
    "json",
    (
        FileType("json", "application/json"),
        FileType("ndjson", "application/x-ndjson"),
        FileType("jsonl", "application/x-ndjson"),
    ),
    __name__,
    textual=True,
)
