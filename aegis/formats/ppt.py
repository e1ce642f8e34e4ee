"""PPT (PowerPoint 97-2003): one page per slide from the record tree, notes included.

Read from the published format ([MS-PPT]) on top of olefile:

- the ``Current User`` stream points at the newest ``UserEditAtom`` in the
  ``PowerPoint Document`` stream; following the chain of edits (newest first)
  builds the persist directory, which maps object ids to byte offsets, so a
  fast-saved file yields its current slides, not old copies;
- the document container's ``SlideListWithText`` lists the slides in order, each
  with the text of its placeholders (titles, bodies); each slide container's
  drawing holds its other text boxes, and refers to placeholder text by index
  (``OutlineTextRefAtom``), which gives the order on the slide;
- a slide's ``SlideAtom`` names its notes page, read the same way.

When the persist directory is missing or broken the slides are read in stream
order instead. Every record length is checked against its parent, the tree walk
is iterative with a depth cap, and offset chains remember where they have been.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.ole import Reader, ole_properties, open_ole, read_stream, split_properties
from aegis.formats.sanitize import cap_pages_text, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

WHAT = "PowerPoint presentation"
STREAM = "PowerPoint Document"
RT_DOCUMENT = 0x03E8
RT_SLIDE = 0x03EE
RT_SLIDE_ATOM = 0x03EF
RT_NOTES = 0x03F0
RT_SLIDE_PERSIST = 0x03F3
RT_SLIDE_LIST = 0x0FF0
RT_OUTLINE_TEXT_REF = 0x0F9E
RT_TEXT_CHARS = 0x0FA0
RT_TEXT_BYTES = 0x0FA8
RT_USER_EDIT = 0x0FF5
RT_PERSIST_DIRECTORY = 0x1772
ENCRYPTED_TOKEN = 0xF3D1C4DF
SLIDES, NOTES = 0, 2  # SlideListWithText instances
MAX_DEPTH = 64  # real files nest a dozen levels; the cap keeps a hostile one short
MAX_RECORDS = 2_000_000
MAX_EDITS = 10_000


@dataclass
class Record:
    type: int
    instance: int
    start: int  # of the body
    end: int
    container: bool


@dataclass
class Entry:
    """A SlidePersistAtom and the placeholder texts that follow it in a SlideListWithText."""

    persist_id: int
    texts: list[str] = field(default_factory=list)


class Tree:
    """The records of the PowerPoint Document stream, walked with bounds and caps."""

    def __init__(self, data: bytes) -> None:
        self.reader = Reader(data, WHAT)
        self.visited = 0

    def header(self, offset: int, limit: int) -> Record:
        reader = self.reader
        version_instance, kind, length = reader.u16(offset), reader.u16(offset + 2), reader.u32(offset + 4)
        end = offset + 8 + length
        if end > limit:
            raise reader.fail(f"record {kind:#06x} at byte {offset} runs past its parent")
        return Record(kind, version_instance >> 4, offset + 8, end, (version_instance & 0x0F) == 0x0F)

    def children(self, parent: Record) -> Iterator[Record]:
        at = parent.start
        while at + 8 <= parent.end:
            record = self.header(at, parent.end)
            self._count()
            yield record
            at = record.end

    def walk(self, parent: Record) -> Iterator[Record]:
        """Every record under ``parent`` in document order, iteratively."""
        stack = [self.children(parent)]
        while stack:
            record = next(stack[-1], None)
            if record is None:
                stack.pop()
                continue
            yield record
            if record.container:
                if len(stack) >= MAX_DEPTH:
                    raise DocumentError(
                        ErrorCode.NESTING_TOO_DEEP, "The presentation nests its records too deeply to be read safely."
                    )
                stack.append(self.children(record))

    def at(self, offset: int) -> Record:
        return self.header(offset, len(self.reader))

    def top_level(self) -> Iterator[Record]:
        return self.children(Record(0, 0, 0, len(self.reader), True))

    def _count(self) -> None:
        self.visited += 1
        if self.visited > MAX_RECORDS:
            raise DocumentError(ErrorCode.TOO_COMPLEX, "The presentation has too many records to be read safely.")


def _atom_text(tree: Tree, record: Record) -> str:
    data = tree.reader.data[record.start : record.end]
    if record.type == RT_TEXT_CHARS:
        text = data[: len(data) // 2 * 2].decode("utf-16-le", "replace")
    else:  # TextBytesAtom: the low bytes of UTF-16 code units
        text = data.decode("latin-1")
    return text.replace("\r", "\n").replace("\x0b", "\n").strip()


def _persist_directory(tree: Tree, current_user: bytes | None) -> tuple[dict[int, int], int] | None:
    """(persist id -> offset, document persist id), newest edit winning; None if unusable."""
    if current_user is None or len(current_user) < 20:
        return None
    user = Reader(current_user, WHAT)
    if user.u32(12) == ENCRYPTED_TOKEN:
        raise DocumentError(ErrorCode.ENCRYPTED, "The PowerPoint presentation is protected with a password.")
    offset = user.u32(16)
    directory: dict[int, int] = {}
    document_id: int | None = None
    seen: set[int] = set()
    reader = tree.reader
    while offset and offset not in seen and len(seen) < MAX_EDITS:
        seen.add(offset)
        try:
            edit = tree.at(offset)
        except DocumentError:
            return None
        if edit.type != RT_USER_EDIT or edit.end - edit.start < 28:
            return None
        if edit.end - edit.start >= 32 and reader.u32(edit.start + 28):
            raise DocumentError(ErrorCode.ENCRYPTED, "The PowerPoint presentation is protected with a password.")
        if document_id is None:
            document_id = reader.u32(edit.start + 16)
        directory_at = tree.at(reader.u32(edit.start + 12))
        if directory_at.type != RT_PERSIST_DIRECTORY:
            return None
        at = directory_at.start
        while at + 4 <= directory_at.end:
            value = reader.u32(at)
            first, count = value & 0xFFFFF, value >> 20
            if at + 4 + 4 * count > directory_at.end:
                raise reader.fail("the persist directory runs past its record")
            for index in range(count):
                directory.setdefault(first + index, reader.u32(at + 4 + 4 * index))
            at += 4 + 4 * count
        offset = reader.u32(edit.start + 8)
    if document_id is None or document_id not in directory:
        return None
    return directory, document_id


def _slide_lists(tree: Tree, document: Record) -> dict[int, list[Entry]]:
    lists: dict[int, list[Entry]] = {}
    for record in tree.children(document):
        if record.type != RT_SLIDE_LIST or record.instance in lists:
            continue
        entries: list[Entry] = []
        for child in tree.children(record):
            if child.type == RT_SLIDE_PERSIST and child.end - child.start >= 4:
                entries.append(Entry(tree.reader.u32(child.start)))
            elif child.type in (RT_TEXT_CHARS, RT_TEXT_BYTES) and entries:
                entries[-1].texts.append(_atom_text(tree, child))
        lists[record.instance] = entries
    return lists


def _container_texts(tree: Tree, container: Record, placeholders: list[str]) -> tuple[list[str], int | None]:
    """Texts of a slide or notes container in drawing order, and the notes persist id of a slide."""
    texts: list[str] = []
    used: set[int] = set()
    notes_id: int | None = None
    for record in tree.walk(container):
        if record.type in (RT_TEXT_CHARS, RT_TEXT_BYTES):
            text = _atom_text(tree, record)
            # Some writers store a placeholder's text in both places; keep it once.
            twin = next((i for i, t in enumerate(placeholders) if t == text and i not in used), None)
            if twin is not None:
                used.add(twin)
            texts.append(text)
        elif record.type == RT_OUTLINE_TEXT_REF and record.end - record.start >= 4:
            index = tree.reader.u32(record.start)
            if index < len(placeholders) and index not in used:
                used.add(index)
                texts.append(placeholders[index])
        elif record.type == RT_SLIDE_ATOM and record.end - record.start >= 20:
            notes_id = tree.reader.u32(record.start + 16) or None
    texts.extend(text for index, text in enumerate(placeholders) if index not in used)
    return [text for text in texts if text], notes_id


def _page_text(parts: list[str]) -> str:
    return clean_text("\n\n".join(parts))


def _slides_by_directory(tree: Tree, directory: dict[int, int], document_id: int, limits: Limits) -> list[str]:
    document = tree.at(directory[document_id])
    if document.type != RT_DOCUMENT or not document.container:
        raise tree.reader.fail("the document record is missing")
    lists = _slide_lists(tree, document)
    notes_text = {entry.persist_id: entry.texts for entry in lists.get(NOTES, [])}
    slides = lists.get(SLIDES, [])
    if len(slides) > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The presentation has {len(slides)} slides; the limit is {limits.max_pages}."
        )
    pages: list[str] = []
    size = 0
    for entry in slides:
        parts = list(entry.texts)
        offset = directory.get(entry.persist_id)
        if offset is not None and size <= limits.max_text_chars:
            slide = tree.at(offset)
            if slide.type == RT_SLIDE and slide.container:
                parts, notes_id = _container_texts(tree, slide, entry.texts)
                notes_at = directory.get(notes_id) if notes_id is not None else None
                if notes_at is not None:
                    notes = tree.at(notes_at)
                    if notes.type == RT_NOTES and notes.container:
                        parts += _container_texts(tree, notes, notes_text.get(notes_id or 0, []))[0]
        text = _page_text(parts)
        size += len(text)
        pages.append(text)
    return pages


def _slides_in_stream_order(tree: Tree, limits: Limits) -> list[str]:
    """Without a persist directory: every slide container, in the order the stream has them."""
    placeholders: list[Entry] = []
    containers: list[Record] = []
    for record in tree.top_level():
        if record.type == RT_DOCUMENT and record.container:
            placeholders = _slide_lists(tree, record).get(SLIDES, placeholders)
        elif record.type == RT_SLIDE and record.container:
            containers.append(record)
            if len(containers) > limits.max_pages:
                raise DocumentError(
                    ErrorCode.TOO_MANY_PAGES, f"The presentation has more than {limits.max_pages} slides."
                )
    pages = []
    for index, slide in enumerate(containers):
        texts = placeholders[index].texts if index < len(placeholders) else []
        pages.append(_page_text(_container_texts(tree, slide, texts)[0]))
    return pages


def read_slides(path: Path, limits: Limits) -> list[str]:
    """The text of each slide (with its notes), in presentation order."""
    with open_ole(path, WHAT) as ole:
        if ole.exists("EncryptedSummary"):
            raise DocumentError(ErrorCode.ENCRYPTED, "The PowerPoint presentation is protected with a password.")
        data = read_stream(ole, STREAM, WHAT) or b""
        current_user = read_stream(ole, "Current User", WHAT, required=False)
    tree = Tree(data)
    try:
        found = _persist_directory(tree, current_user)
    except struct.error as exc:  # pragma: no cover - Reader checks lengths before unpacking
        raise tree.reader.fail("a record is cut short") from exc
    if found is not None:
        return _slides_by_directory(tree, *found, limits)
    return _slides_in_stream_order(tree, limits)


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    return {"slides": len(read_slides(path, limits))}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    slides = read_slides(path, limits)
    pages = [Page(number=i + 1, text=text) for i, text in enumerate(slides)]
    return cap_pages_text(pages or [Page(number=1, text="")], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    slides = read_slides(path, limits)
    with open_ole(path, WHAT) as ole:
        top, detail = split_properties(ole_properties(ole))
    return drop_empty(top) | {"pages": len(slides), "ppt": drop_empty(detail)}


#: PowerPoint 97-2003 presentations.
FAMILY = ModuleFamily(
    "ppt",
    (
        FileType("ppt", "application/vnd.ms-powerpoint"),
        FileType("pps", "application/vnd.ms-powerpoint"),
        FileType("pot", "application/vnd.ms-powerpoint"),
    ),
    __name__,
)
