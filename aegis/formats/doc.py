"""DOC (Word 97-2003): text through the piece table, metadata from the OLE property sets.

Read from the published format ([MS-DOC]) rather than by a converter process, so
the parser runs under the worker's memory cap and the hostile-input rules:

- the File Information Block (FIB) at the start of the ``WordDocument`` stream says
  whether the file is encrypted, which table stream holds the CLX, and how many
  characters each story has (main text, footnotes, headers, comments, endnotes,
  text boxes), in that order in character-position (CP) space;
- the CLX's piece table maps CP ranges to bytes of ``WordDocument``, each piece
  either UTF-16 or "compressed" 8-bit (cp1252), so fast-saved files read in order.

Every offset and length read from the file is checked against its stream; a FIB
that claims more text than the piece table holds is ``malformed``. Page breaks
(form feeds) in the main text split pages. Field codes are dropped and field
results kept (what Word displays). Cell marks become `` | `` and row ends new
lines, as in the DOCX reader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ole import Reader, ole_properties, open_ole, read_stream, split_properties
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

WHAT = "Word document"
W_IDENT = 0xA5EC
# Word 97 writes nFib 193; Word 6 and 95 (101-104) use an older FIB and 8-bit text only.
MIN_NFIB = 0x00C0
F_ENCRYPTED = 0x0100
F_WHICH_TABLE = 0x0200
F_OBFUSCATED = 0x8000
# FibRgLw97 indices of the story lengths, in the order the stories follow each other in CP space.
STORIES = (("main", 3), ("footnotes", 4), ("headers", 5), ("macros", 6), ("comments", 7), ("endnotes", 8),
           ("text_boxes", 9), ("header_text_boxes", 10))
CLX_PAIR = 33  # fcClx/lcbClx is the 34th pair of FibRgFcLcb97
MAX_FIELD_DEPTH = 64

_FIELD_MARKS = re.compile("([\x13\x14\x15])")
_CELLS = re.compile("\x07+")
_TRANSLATE = str.maketrans(
    {"\r": "\n", "\x0b": "\n", "\x1e": "-", "\x1f": None, "\xa0": " ", "\x01": None, "\x02": None, "\x03": None,
     "\x04": None, "\x05": None, "\x08": None}
)


@dataclass
class WordText:
    """The stories of a document as Word displays them."""

    main: str
    extras: dict[str, str]
    nfib: int


def _fib(word: Reader) -> tuple[int, int, list[int], int, int]:
    """(nFib, flags, story lengths, fcClx, lcbClx) from the FIB, or a DocumentError."""
    if len(word) < 34 or word.u16(0) != W_IDENT:
        raise DocumentError(ErrorCode.MALFORMED, "The Word document has no valid file information block.")
    nfib, flags = word.u16(2), word.u16(0x0A)
    if flags & (F_ENCRYPTED | F_OBFUSCATED):
        raise DocumentError(ErrorCode.ENCRYPTED, "The Word document is protected with a password.")
    if nfib < MIN_NFIB:
        raise DocumentError(
            ErrorCode.UNSUPPORTED_FORMAT,
            "Word 6.0/95 documents are not supported; save it as .docx and upload it again.",
        )
    csw = word.u16(32)
    at = 34 + csw * 2
    cslw = word.u16(at)
    rglw = at + 2
    if cslw < 11:
        raise word.fail("the file information block is too short")
    lengths = [word.u32(rglw + 4 * index) for _, index in STORIES]
    at = rglw + cslw * 4
    pairs = word.u16(at)
    if pairs <= CLX_PAIR:
        raise word.fail("the file information block has no piece table")
    fc_clx = word.u32(at + 2 + CLX_PAIR * 8)
    lcb_clx = word.u32(at + 2 + CLX_PAIR * 8 + 4)
    return nfib, flags, lengths, fc_clx, lcb_clx


def _pieces(table: Reader, fc_clx: int, lcb_clx: int) -> tuple[list[int], int]:
    """(CPs, offset of the PCDs) of the piece table inside the CLX."""
    table.need(fc_clx, lcb_clx)
    at, end = fc_clx, fc_clx + lcb_clx
    while at < end:
        kind = table.u8(at)
        if kind == 0x01:  # a Prc: property modifiers for pieces, skipped
            size = table.i16(at + 1)
            if size < 0:
                raise table.fail("a negative property size in the piece table")
            at += 3 + size
        elif kind == 0x02:  # the Pcdt
            size = table.u32(at + 1)
            table.need(at + 5, size)
            if at + 5 + size > end or size < 16 or (size - 4) % 12:
                raise table.fail("the piece table has an impossible size")
            count = (size - 4) // 12
            cps = [table.u32(at + 5 + 4 * i) for i in range(count + 1)]
            if any(b < a for a, b in zip(cps, cps[1:], strict=False)):
                raise table.fail("the piece table's positions go backwards")
            return cps, at + 5 + 4 * (count + 1)
        else:
            raise table.fail("the piece table holds an unknown entry")
    raise table.fail("the document has no piece table")


def _decode(word: Reader, table: Reader, cps: list[int], pcds: int, wanted: int) -> str:
    """The first ``wanted`` characters of the document in CP order."""
    parts: list[str] = []
    for index in range(len(cps) - 1):
        start, end = cps[index], cps[index + 1]
        if start >= wanted:
            break
        count = min(end, wanted) - start
        value = table.u32(pcds + 8 * index + 2)
        if value & 0x40000000:  # compressed: one cp1252 byte per character at fc / 2
            offset = (value & 0x3FFFFFFF) // 2
            if offset + count > len(word):
                raise word.fail("the piece table points past the end of the text")
            parts.append(word.data[offset : offset + count].decode("cp1252", "replace"))
        else:
            offset = value & 0x3FFFFFFF
            if offset + 2 * count > len(word):
                raise word.fail("the piece table points past the end of the text")
            parts.append(word.data[offset : offset + 2 * count].decode("utf-16-le", "replace"))
    return "".join(parts)


def visible(text: str) -> str:
    """What Word shows: field results without their codes, cells and rows, no control marks."""
    if "\x13" in text:
        shown: list[str] = []
        stack: list[bool] = []  # per open field: True once its result part began
        for token in _FIELD_MARKS.split(text):
            if token == "\x13":
                if len(stack) >= MAX_FIELD_DEPTH:
                    raise DocumentError(ErrorCode.NESTING_TOO_DEEP, "The document nests fields too deeply to be read.")
                stack.append(False)
            elif token == "\x14":
                if stack:
                    stack[-1] = True
            elif token == "\x15":
                if stack:
                    stack.pop()
            elif all(stack):
                shown.append(token)
        text = "".join(shown)
    text = _CELLS.sub(lambda m: " | " * (len(m.group()) - 2) + "\n" if len(m.group()) > 1 else " | ", text)
    return text.translate(_TRANSLATE)


def _tidy(text: str) -> str:
    lines = [line.rstrip(" |\t") if "|" in line else line.rstrip() for line in text.split("\n")]
    out = "\n".join(lines).strip("\n")
    out = re.sub("\n{3,}", "\n\n", out)
    return clean_text(out)


def read_text(path: Path, limits: Limits) -> WordText:
    """The main text and the other stories of a Word 97-2003 document."""
    with open_ole(path, WHAT) as ole:
        word = Reader(read_stream(ole, "WordDocument", WHAT) or b"", WHAT)
        nfib, flags, lengths, fc_clx, lcb_clx = _fib(word)
        table_name = "1Table" if flags & F_WHICH_TABLE else "0Table"
        table = Reader(read_stream(ole, table_name, WHAT) or b"", WHAT)
    cps, pcds = _pieces(table, fc_clx, lcb_clx)
    if lengths[0] > cps[-1]:
        raise word.fail(f"it claims {lengths[0]} characters of text but holds {cps[-1]}")
    wanted = min(sum(lengths), cps[-1], limits.max_text_chars + sum(lengths[1:]))
    text = _decode(word, table, cps, pcds, wanted)
    extras: dict[str, str] = {}
    at = lengths[0]
    for (name, _), length in zip(STORIES[1:], lengths[1:], strict=True):
        story = text[at : at + length]
        at += length
        if name != "macros" and story.strip():
            extras[name] = _tidy(visible(story))
    return WordText(main=text[: lengths[0]], extras=extras, nfib=nfib)


def _unique_lines(text: str) -> str:
    """Headers and footers repeat per section; keep each line once."""
    seen: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if line and line not in seen:
            seen.append(line)
    return "\n".join(seen)


def pages_of(document: WordText) -> list[Page]:
    texts = [_tidy(part) for part in visible(document.main).split("\x0c")]
    texts = [text for text in texts if text.strip()] or [""]
    extra = [
        _unique_lines(document.extras[name]) if "header" in name else document.extras[name]
        for name, _ in STORIES[1:]
        if document.extras.get(name)
    ]
    if extra:
        texts[-1] = "\n\n".join([texts[-1], *extra]).strip()
    return [Page(number=i + 1, text=text) for i, text in enumerate(texts)]


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    document = read_text(path, limits)
    return {"nfib": document.nfib}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    return cap_pages_text(pages_of(read_text(path, limits)), limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    document = read_text(path, limits)
    with open_ole(path, WHAT) as ole:
        top, detail = split_properties(ole_properties(ole))
    detail |= {"nfib": document.nfib, "stories": sorted(document.extras)}
    return drop_empty(top) | {"pages": len(pages_of(document)), "doc": drop_empty(detail)}


#: Word 97-2003 documents.
FAMILY = ModuleFamily(
    "doc",
    (FileType("doc", "application/msword"), FileType("dot", "application/msword")),
    __name__,
)
