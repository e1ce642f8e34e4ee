"""XLSX: one page per sheet, rows as ``a | b | c`` lines, cached values only.

openpyxl in read-only mode streams rows instead of building every cell object,
so memory follows the row, not the sheet. ``data_only`` gives the values Excel
last calculated rather than formulas, which is what a reader sees. Empty
trailing cells are dropped: sheets often declare a huge used range.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ooxml import app_properties, core_properties, open_package
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

# A sheet can declare a million rows of nothing; stop after this many empty ones.
MAX_EMPTY_RUN = 10_000


def _load(path: Path, limits: Limits) -> Any:
    import openpyxl

    open_package(path, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Bytes, not the path: openpyxl judges paths by their extension, and stored
            # blobs have none. The zip gate has already bounded what this can inflate.
            return openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=True)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on damaged packages
        raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook is damaged and cannot be read.") from exc


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def sheet_text(rows: Any, budget: int) -> tuple[str, int]:
    """Rows to lines, trailing empties trimmed; returns the text and rows read."""
    lines: list[str] = []
    size = 0
    empty_run = 0
    count = 0
    for row in rows:
        count += 1
        cells = [_cell(v) for v in row]
        while cells and not cells[-1]:
            cells.pop()
        if not cells:
            empty_run += 1
            if empty_run > MAX_EMPTY_RUN:
                break
            continue
        empty_run = 0
        line = " | ".join(cells)
        lines.append(line)
        size += len(line) + 1
        if size > budget:
            break
    return clean_text("\n".join(lines)), count


def check_sheet_count(count: int, limits: Limits) -> dict[str, Any]:
    """A sheet is a page: refuse workbooks past the page cap (XLSX and XLS alike)."""
    if count > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The workbook has {count} sheets; the limit is {limits.max_pages}."
        )
    return {"sheets": count}


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    workbook = _load(path, limits)
    try:
        count = len(workbook.sheetnames)
    finally:
        workbook.close()
    return check_sheet_count(count, limits)


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    workbook = _load(path, limits)
    pages: list[Page] = []
    remaining = limits.max_text_chars
    try:
        for number, sheet in enumerate(workbook.worksheets, start=1):
            if number > limits.max_pages:
                raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The workbook has more than {limits.max_pages} sheets.")
            text = ""
            if remaining > 0:
                body, _ = sheet_text(sheet.iter_rows(values_only=True), remaining)
                text = f"{sheet.title}\n\n{body}".strip() if body else clean_text(sheet.title)
                remaining -= len(text)
            pages.append(Page(number=number, text=text))
    finally:
        workbook.close()
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    workbook = _load(path, limits)
    try:
        core = core_properties(workbook.properties)
        sheets = [clean_text(name)[:200] for name in workbook.sheetnames]
    finally:
        workbook.close()
    app = app_properties(path)
    detail = drop_empty(
        {
            **{k: core.pop(k) for k in ("last_modified_by", "revision", "category", "comments", "declared_language")},
            **{k: v for k, v in app.items() if k != "creator"},
            "sheets": sheets,
        }
    )
    return drop_empty(core) | drop_empty({"creator": app.get("creator")}) | {"pages": len(sheets), "xlsx": detail}


#: Excel 2007+ workbooks, macro-enabled ones included.
FAMILY = ModuleFamily(
    "xlsx",
    (
        FileType("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        FileType("xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
    ),
    __name__,
)
