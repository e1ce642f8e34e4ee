"""XLS (Excel 97-2003): one page per sheet via xlrd, which reads only this format.

xlrd is the reader pandas uses for legacy workbooks; it parses the BIFF records
of an OLE file in pure Python. ``on_demand`` loads one sheet at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty
from aegis.formats.xlsx import check_sheet_count, sheet_text
from aegis.vocabulary import ErrorCode


def _load(path: Path) -> Any:
    import xlrd

    try:
        return xlrd.open_workbook(str(path), on_demand=True, logfile=_Null())
    except xlrd.biffh.XLRDError as exc:
        if "encrypt" in str(exc).lower():
            raise DocumentError(ErrorCode.ENCRYPTED, "The Excel workbook is protected with a password.") from exc
        raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook is damaged and cannot be read.") from exc
    except Exception as exc:  # noqa: BLE001 - xlrd raises many types on damaged files
        raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook is damaged and cannot be read.") from exc


class _Null:
    """xlrd writes warnings to a file object; we have no use for them."""

    def write(self, _text: str) -> int:
        return 0


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    book = _load(path)
    try:
        count = book.nsheets
    finally:
        book.release_resources()
    return check_sheet_count(count, limits)


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    book = _load(path)
    pages: list[Page] = []
    remaining = limits.max_text_chars
    try:
        for index in range(min(book.nsheets, limits.max_pages)):
            text = ""
            if remaining > 0:
                sheet = book.sheet_by_index(index)
                rows = (sheet.row_values(r) for r in range(sheet.nrows))
                body, _ = sheet_text(rows, remaining)
                text = f"{sheet.name}\n\n{body}".strip() if body else clean_text(sheet.name)
                book.unload_sheet(index)
                remaining -= len(text)
            pages.append(Page(number=index + 1, text=text))
    finally:
        book.release_resources()
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    book = _load(path)
    try:
        sheets = [clean_inline(name, 200) for name in book.sheet_names()]
        author = clean_inline(book.user_name or "", 200) or None
        biff = book.biff_version
    finally:
        book.release_resources()
    return drop_empty({"author": author}) | {"pages": len(sheets), "xls": {"sheets": sheets, "biff_version": biff}}


#: Excel 97-2003 workbooks.
FAMILY = ModuleFamily(
    "xls",
    (FileType("xls", "application/vnd.ms-excel"),),
    __name__,
)
