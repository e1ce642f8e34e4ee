"""Word 97 and PowerPoint 97 files written here, for tests of the legacy readers.

No maintained Python library writes these formats, and the shared corpus holds
no binary PowerPoint file, so tests build them from the published layouts: an
OLE compound file ([MS-CFB], version 3, every stream padded past the 4096-byte
mini-stream cutoff so one FAT describes all), a ``SummaryInformation`` property
set, a Word FIB with a piece table ([MS-DOC]) and a PowerPoint record tree with
its persist directory ([MS-PPT]). Keyword arguments let hostile tests break one
field at a time.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

SECTOR = 512
END, FREE, FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF
SUMMARY_FMTID = bytes.fromhex("e0859ff2f94f6810ab9108002b27b3d9")


def compound_file(streams: dict[str, bytes]) -> bytes:
    """An OLE compound file holding ``streams`` at its root."""
    names = sorted(streams, key=lambda n: (len(n), n.upper()))
    body = bytearray()
    fat: list[int] = []
    starts: dict[str, int] = {}
    for name in names:
        data = streams[name].ljust(4096, b"\0")
        padded = data.ljust(-(-len(data) // SECTOR) * SECTOR, b"\0")
        first = len(fat)
        count = len(padded) // SECTOR
        fat.extend(range(first + 1, first + count))
        fat.append(END)
        starts[name] = first
        body += padded
        streams = {**streams, name: data}
    entries = [_entry("Root Entry", 5, END, 0, child=1 if names else NOSTREAM)]
    for index, name in enumerate(names, start=1):
        right = index + 1 if index < len(names) else NOSTREAM
        entries.append(_entry(name, 2, starts[name], len(streams[name]), right=right))
    directory = b"".join(entries)
    directory = directory.ljust(-(-len(directory) // SECTOR) * SECTOR, b"\0")
    first_dir = len(fat)
    dir_count = len(directory) // SECTOR
    fat.extend(range(first_dir + 1, first_dir + dir_count))
    fat.append(END)
    fat_count = 1
    while (len(fat) + fat_count) > fat_count * 128:
        fat_count += 1
    first_fat = len(fat)
    fat.extend([FATSECT] * fat_count)
    fat.extend([FREE] * (fat_count * 128 - len(fat)))
    difat = list(range(first_fat, first_fat + fat_count)) + [FREE] * (109 - fat_count)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6,
        0, fat_count, first_dir, 0, 4096, END, 0, END, 0,
    ) + struct.pack("<109I", *difat)
    return header + bytes(body) + directory + struct.pack(f"<{len(fat)}I", *fat)


def _entry(name: str, kind: int, start: int, size: int, *, child: int = NOSTREAM, right: int = NOSTREAM) -> bytes:
    encoded = name.encode("utf-16-le") + b"\0\0"
    return struct.pack(
        "<64sHBBIII16sIQQIQ", encoded, len(encoded), kind, 1, NOSTREAM, right, child, b"\0" * 16, 0, 0, 0,
        start, size,
    )


def summary_information(**values: str | int | datetime) -> bytes:
    """A SummaryInformation property set: title, subject, author, keywords, last_saved_by,
    app_name (strings), pages, words (integers), created, saved (datetimes)."""
    ids = {"title": 2, "subject": 3, "author": 4, "keywords": 5, "last_saved_by": 8, "created": 12, "saved": 13,
           "pages": 14, "words": 15, "app_name": 18}
    props: list[tuple[int, bytes]] = [(1, struct.pack("<Ihh", 2, 1252, 0))]
    for key, value in values.items():
        if isinstance(value, datetime):
            ticks = int((value - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10_000_000)
            props.append((ids[key], struct.pack("<IQ", 0x40, ticks)))
        elif isinstance(value, int):
            props.append((ids[key], struct.pack("<Ii", 3, value)))
        else:
            raw = value.encode("cp1252") + b"\0"
            raw = raw.ljust(-(-len(raw) // 4) * 4, b"\0")
            props.append((ids[key], struct.pack("<II", 0x1E, len(value) + 1) + raw))
    table_size = 8 + 8 * len(props)
    offsets, blob = [], b""
    for pid, data in props:
        offsets.append(struct.pack("<II", pid, table_size + len(blob)))
        blob += data
    section = struct.pack("<II", table_size + len(blob), len(props)) + b"".join(offsets) + blob
    head = struct.pack("<HHI16sI", 0xFFFE, 0, 0x00020006, b"\0" * 16, 1)
    return head + SUMMARY_FMTID + struct.pack("<I", 48) + section


# ---- Word 97 --------------------------------------------------------------------------------

TEXT_AT = 0x800


def word_document(
    main: str,
    *,
    headers: str = "",
    footnotes: str = "",
    compressed: bool = False,
    encrypted: bool = False,
    ccp_text: int | None = None,
    nfib: int = 0xC1,
    piece_fc: int | None = None,
    properties: bytes | None = None,
) -> bytes:
    """A Word 97 document whose stories are ``main`` (paragraphs end in ``\\r``), footnotes and headers."""
    text = main + footnotes + headers + ("\r" if footnotes or headers else "")
    encoded = text.encode("cp1252") if compressed else text.encode("utf-16-le")
    flags = 0x0200 | (0x0100 if encrypted else 0)
    rglw = [0] * 22
    rglw[3], rglw[4], rglw[5] = len(main) if ccp_text is None else ccp_text, len(footnotes), len(headers)
    fc = TEXT_AT * 2 | 0x40000000 if compressed else TEXT_AT
    if piece_fc is not None:
        fc = piece_fc
    clx = struct.pack("<BI", 2, 4 + 4 + 8) + struct.pack("<II", 0, len(text)) + struct.pack("<HIH", 0, fc, 0)
    table = b"\0" * 16 + clx
    pairs = [0] * (93 * 2)
    pairs[33 * 2], pairs[33 * 2 + 1] = 16, len(clx)
    fib = struct.pack("<HHHHHHI", 0xA5EC, nfib, 0, 0x0409, 0, flags, 0).ljust(32, b"\0")
    fib += struct.pack("<H", 14) + b"\0" * 28 + struct.pack("<H", 22) + struct.pack("<22I", *rglw)
    fib += struct.pack("<H", 93) + struct.pack(f"<{93 * 2}I", *pairs)
    word = fib.ljust(TEXT_AT, b"\0") + encoded
    streams = {"WordDocument": word, "1Table": table}
    if properties is not None:
        streams["\x05SummaryInformation"] = properties
    return compound_file(streams)


# ---- PowerPoint 97 --------------------------------------------------------------------------


def record(kind: int, body: bytes = b"", *, instance: int = 0, container: bool = False) -> bytes:
    return struct.pack("<HHI", (instance << 4) | (0xF if container else 0), kind, len(body)) + body


def container(kind: int, *children: bytes, instance: int = 0) -> bytes:
    return record(kind, b"".join(children), instance=instance, container=True)


def chars(text: str) -> bytes:
    return record(0x0FA0, text.replace("\n", "\r").encode("utf-16-le"))


def text_box(*atoms: bytes) -> bytes:
    """A shape whose client text box holds ``atoms`` (text, or a reference to placeholder text)."""
    return container(0xF004, container(0xF00D, *atoms))


def drawing(*shapes: bytes) -> bytes:
    return container(0x040C, container(0xF002, container(0xF003, *shapes)))


def presentation(
    slides: list[tuple[str, str, str, str]],
    *,
    properties: bytes | None = None,
    encrypted: bool = False,
    nest: int = 0,
    edit_loops: bool = False,
    slides_at_document: bool = False,
    overlong_slide: bool = False,
    current_user: bool = True,
) -> bytes:
    """A PowerPoint 97 file: per slide (title, body placeholder text, a free text box, notes).

    Hostile knobs: ``nest`` wraps the first slide's drawing in that many containers;
    ``edit_loops`` makes the newest edit name itself as the previous one;
    ``slides_at_document`` points every slide's persist entry back at the document
    record; ``overlong_slide`` makes the last slide claim more bytes than the stream
    has; ``current_user=False`` leaves out the stream that leads to the persist directory.
    """
    # persist ids: 1 document, then per slide 2 ids (slide, notes)
    slide_list, notes_list = [], []
    for index, (title, body, _, notes) in enumerate(slides):
        slide_id, notes_id = 2 + 2 * index, 3 + 2 * index
        persist = struct.pack("<IIIII", slide_id, 0, 2, 256 + index, 0)
        slide_list += [record(0x03F3, persist), record(0x0F9F, struct.pack("<I", 0)), chars(title),
                       record(0x0F9F, struct.pack("<I", 1)), record(0x0FA8, body.replace("\n", "\r").encode("latin-1"))]
        if notes:
            notes_list += [record(0x03F3, struct.pack("<IIIII", notes_id, 0, 1, 256 + index, 0)),
                           record(0x0F9F, struct.pack("<I", 2)), chars(notes)]
    document = container(
        0x03E8,
        record(0x03E9, b"\0" * 40),
        container(0x0FF0, *slide_list, instance=0),
        container(0x0FF0, *notes_list, instance=2),
    )
    stream = bytearray(document)
    offsets = {1: 0}
    for index, (_, _, free, notes) in enumerate(slides):
        slide_id, notes_id = 2 + 2 * index, 3 + 2 * index
        shapes = [text_box(record(0x0F9E, struct.pack("<I", 0))), text_box(record(0x0F9E, struct.pack("<I", 1)))]
        if free:
            shapes.append(text_box(record(0x0F9F, struct.pack("<I", 4)), chars(free)))
        art = drawing(*shapes)
        if index == 0:
            for _ in range(nest):
                art = container(0xF003, art)
        atom = struct.pack("<I8sIIHH", 0, b"\0" * 8, 0, notes_id if notes else 0, 0, 0)
        offsets[slide_id] = 0 if slides_at_document else len(stream)
        slide = container(0x03EE, record(0x03EF, atom), art)
        if overlong_slide and index == len(slides) - 1:
            slide = slide[:4] + struct.pack("<I", len(slide) + 10_000) + slide[8:]
        stream += slide
        if notes:
            offsets[notes_id] = len(stream)
            stream += container(0x03F0, record(0x03F1, struct.pack("<IHH", 256 + index, 0, 0)),
                                drawing(text_box(record(0x0F9E, struct.pack("<I", 0)))))
    ids = sorted(offsets)
    directory_at = len(stream)
    entries = struct.pack("<I", (len(ids) << 20) | 1) + b"".join(struct.pack("<I", offsets[i]) for i in ids)
    stream += record(0x1772, entries)
    edit_at = len(stream)
    stream += record(0x0FF5, struct.pack("<IHBBIIIIHH", 256, 0, 0, 3, edit_at if edit_loops else 0, directory_at,
                                         1, max(ids) + 1, 1, 0))
    token = 0xF3D1C4DF if encrypted else 0xE391C05F
    user_name = b"tester"
    current = struct.pack("<IIIHHBBH", 0x14, token, edit_at, len(user_name), 0x03F4, 3, 0, 0) + user_name
    streams = {"PowerPoint Document": bytes(stream)}
    if current_user:
        streams["Current User"] = record(0x0FF6, current)
    if properties is not None:
        streams["\x05SummaryInformation"] = properties
    return compound_file(streams)
