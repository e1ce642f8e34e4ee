"""XLSX: one page per sheet, rows as ``a | b | c`` lines, cached values only.

Sheets are read from the package's XML (aegis.formats.ooxml.Package) with lxml,
cells typed exactly as openpyxl's read-only ``data_only`` reader types them
(shared strings, dates by their number format, the 1904 epoch; openpyxl's own
helpers decide the formats) without loading its workbook model. Cached values,
not formulas: what Excel last calculated is what a reader sees. Empty
trailing cells are dropped: sheets often declare a huge used range.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ooxml import Package, child, child_text, package_properties
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

# A sheet can declare a million rows of nothing; stop after this many empty ones.
MAX_EMPTY_RUN = 10_000
MAX_COLUMNS = 16_384  # XFD, Excel's last column


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def sheet_text(rows: Any, budget: int) -> tuple[str, int]:
    """Rows to lines, trailing empties trimmed; returns the text and rows read."""
    return cells_text(([_cell(v) for v in row] for row in rows), budget)


def cells_text(rows: Any, budget: int) -> tuple[str, int]:
    """:func:`sheet_text` of rows whose cells are already text (:func:`_cell` applied)."""
    lines: list[str] = []
    size = 0
    empty_run = 0
    count = 0
    for cells in rows:
        count += 1
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


S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_C, _V, _IS, _T, _RUN, _ROW = f"{S}c", f"{S}v", f"{S}is", f"{S}t", f"{S}r", f"{S}row"


def _string(node: Any) -> str:
    """A shared or inline string: its plain text plus its rich-text runs' (no phonetic guides)."""
    parts = [child_text(node, _T) or ""]
    parts.extend(child_text(run, _T) or "" for run in node.iterchildren(_RUN))
    return "".join(parts).replace("x005F_", "")


class _Book:
    """What a sheet's cells need from the rest of the workbook: strings, date styles, epoch."""

    def __init__(self, package: Package) -> None:
        self.package = package
        main = "xl/workbook.xml"
        root = package.part(main)
        if root is None:
            raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook has no workbook part.")
        rels = package.rels(main)
        self.sheets: list[tuple[str, str | None]] = []  # (name, worksheet part or None for chart sheets)
        for sheet in root.iterfind(f"{S}sheets/{S}sheet"):
            kind, target = rels.get(sheet.get(f"{R}id") or "", ("", ""))
            self.sheets.append((sheet.get("name") or "", target if kind.endswith("/worksheet") else None))
        props = root.find(f"{S}workbookPr")
        self.mac_epoch = props is not None and props.get("date1904") in ("1", "true")
        self.rels = rels
        self._strings: list[str] | None = None
        self._styles: tuple[set[int], set[int]] | None = None

    def _part_of(self, suffix: str) -> Any:
        target = next((t for kind, t in self.rels.values() if kind.endswith(suffix)), None)
        return self.package.part(target) if target else None

    @property
    def strings(self) -> list[str]:
        if self._strings is None:
            root = self._part_of("/sharedStrings")
            self._strings = [_string(si) for si in root.iterchildren(f"{S}si")] if root is not None else []
        return self._strings

    @property
    def styles(self) -> tuple[set[int], set[int]]:
        """Indexes of the cell formats that show dates, and of those that show durations."""
        if self._styles is None:
            from openpyxl.styles.numbers import BUILTIN_FORMATS

            dates: set[int] = set()
            durations: set[int] = set()
            root = self._part_of("/styles")
            if root is not None:
                custom = {
                    fmt.get("numFmtId"): fmt.get("formatCode") or "" for fmt in root.iterfind(f"{S}numFmts/{S}numFmt")
                }
                for index, xf in enumerate(root.iterfind(f"{S}cellXfs/{S}xf")):
                    key = xf.get("numFmtId") or "0"
                    code = custom.get(key) or BUILTIN_FORMATS.get(int(key) if key.isdigit() else -1) or ""
                    is_date, is_duration = _format_kind(code)
                    if is_date:
                        dates.add(index)
                    if is_duration:
                        durations.add(index)
            self._styles = (dates, durations)
        return self._styles

    def value(self, cell: Any) -> Any:
        """A cell's cached value, typed as openpyxl's data_only reader types it."""
        kind = cell.get("t", "n")
        if kind == "inlineStr":
            node = child(cell, _IS)
            return _string(node) if node is not None else None
        raw = child_text(cell, _V)
        if not raw:
            return None
        if kind == "s":
            index = int(raw)
            strings = self.strings
            return strings[index] if 0 <= index < len(strings) else None
        if kind == "n":
            return self._number(raw, cell.get("s"))
        if kind == "b":
            return bool(int(raw))
        if kind == "d":
            from openpyxl.utils.datetime import from_ISO8601

            return from_ISO8601(raw)
        return raw  # str (a formula's text result) and e (an error like #N/A)

    def _number(self, raw: str, style_attr: str | None) -> Any:
        # openpyxl's rule: a point or an exponent makes a float, anything else an int.
        number: float | int = float(raw) if "." in raw or "e" in raw or "E" in raw else int(raw)
        style = int(style_attr) if style_attr else 0
        dates, durations = self.styles
        if style in dates:
            from openpyxl.utils.datetime import CALENDAR_MAC_1904, WINDOWS_EPOCH, from_excel

            try:
                epoch = CALENDAR_MAC_1904 if self.mac_epoch else WINDOWS_EPOCH
                return from_excel(number, epoch, timedelta=style in durations)
            except (OverflowError, ValueError):
                return "#VALUE!"
        return number

    def rows(self, part: str) -> Any:
        """A worksheet's rows as lists of cell texts (:func:`_cell`) from column A, missing rows empty.

        The loop is the hot path of a big sheet, so the common cells (shared strings,
        plain numbers) are typed inline; the rest go through :meth:`value`.
        """
        root = self.package.part(part)
        if root is None:
            raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook is missing a worksheet part.")
        data = root.find(f"{S}sheetData")
        expected = 1
        value = self.value
        number = self._number
        strings: list[str] | None = None  # the shared strings as cell text, read at the first use
        plain: set[str | None] = set()  # style attributes seen showing a number as a plain number
        columns = _COLUMNS
        for row in data.iterchildren(_ROW) if data is not None else ():
            number_attr = row.get("r")
            row_number = int(number_attr) if number_attr and number_attr.isdigit() else expected
            while expected < row_number:
                expected += 1
                yield []
            expected = row_number + 1
            values: list[str] = []
            count = 0  # len(values)
            for cell in row.iterchildren(_C):
                reference = cell.get("r")
                column = columns[reference.rstrip("0123456789")] if reference else 0
                if not 0 < column <= MAX_COLUMNS:
                    column = count + 1
                if column > count + 1:
                    values.extend([""] * (column - count - 1))
                    count = column - 1
                count += 1
                kind = cell.get("t")
                if kind is None or kind == "s" or kind == "n":
                    raw = None  # child_text(cell, _V), inlined: this is the hot loop
                    if len(cell):
                        sub = cell[0]  # <v> first (no formula): indexing is cheaper than iterating
                        if sub.tag == _V:
                            raw = sub.text
                        else:
                            for sub in cell:
                                if sub.tag == _V:
                                    raw = sub.text
                                    break
                    if not raw:
                        values.append("")
                    elif kind == "s":
                        if strings is None:
                            strings = [text.strip() for text in self.strings]
                        index = int(raw)
                        values.append(strings[index] if 0 <= index < len(strings) else "")
                    else:
                        style = cell.get("s")
                        if style in plain:
                            # _cell(number(raw, style)) for a style that shows no date, inlined.
                            if "." in raw or "e" in raw or "E" in raw:
                                real = float(raw)
                                values.append(str(int(real)) if real.is_integer() else str(real))
                            else:
                                values.append(str(int(raw)))
                        else:
                            typed = number(raw, style)
                            values.append(_cell(typed))
                            # Whether a style shows a date depends on the style alone: remember
                            # the plain ones (bounded: a hostile sheet may use endless ids).
                            if type(typed) in (int, float) and len(plain) < 1000:
                                plain.add(style)
                else:
                    values.append(_cell(value(cell)))
            yield values


@functools.lru_cache(maxsize=4096)
def _format_kind(code: str) -> tuple[bool, bool]:
    """(shows a date, shows a duration) for a number format code, as openpyxl decides.

    Remembered: a workbook's styles repeat a few codes hundreds of times, and
    openpyxl decides with several regular expressions each time.
    """
    from openpyxl.styles.numbers import is_date_format, is_timedelta_format

    return (bool(code) and is_date_format(code), bool(code) and is_timedelta_format(code))


def _column_number(letters: str) -> int:
    column = 0
    for ch in letters:
        if "A" <= ch <= "Z":
            column = column * 26 + ord(ch) - 64
        else:
            break
    return column


class _ColumnNumbers(dict[str, int]):
    """Column letters -> number, remembered (a sheet repeats a few dozen), bounded against hostile refs."""

    def __missing__(self, letters: str) -> int:
        column = _column_number(letters)
        if len(self) < 20_000:
            self[letters] = column
        return column


_COLUMNS = _ColumnNumbers()


def _open_book(package: Package) -> _Book:
    try:
        return _Book(package)
    except DocumentError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook is damaged and cannot be read.") from exc


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    with Package(path, limits, detection=detection) as package:
        count = len(_open_book(package).sheets)
    return check_sheet_count(count, limits)


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    pages: list[Page] = []
    remaining = limits.max_text_chars
    with Package(path, limits, detection=detection) as package:
        book = _open_book(package)
        worksheets = [(name, part) for name, part in book.sheets if part is not None]
        for number, (name, part) in enumerate(worksheets, start=1):
            if number > limits.max_pages:
                raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The workbook has more than {limits.max_pages} sheets.")
            text = ""
            if remaining > 0:
                try:
                    body, _ = cells_text(book.rows(part), remaining)
                except (ValueError, IndexError, OverflowError) as exc:
                    raise DocumentError(ErrorCode.MALFORMED, "The Excel workbook has a damaged cell.") from exc
                text = f"{name}\n\n{body}".strip() if body else clean_text(name)
                remaining -= len(text)
            pages.append(Page(number=number, text=text))
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    with Package(path, limits, detection=detection) as package:
        core, app = package_properties(package)
        sheets = [clean_text(name)[:200] for name, _ in _open_book(package).sheets]
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
