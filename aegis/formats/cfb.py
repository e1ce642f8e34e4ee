"""A lean, bounds-checked reader of OLE compound files (CFB, [MS-CFB]).

olefile parses the whole directory, builds an object per entry and keeps the
file open; for a small Outlook message that is ~10 ms, more than reading the
message itself. Sniffing only needs the entry names and MSG only a dozen small
streams, so this reader takes the file's bytes once (the caller's size cap
bounds them), decodes the directory into flat tuples and reads a stream on
demand. Every offset and length comes from the file and is checked; sector
chains are walked with a step cap, so a loop or an out-of-range sector is
:class:`CfbError`, never an IndexError or a hang.
"""

from __future__ import annotations

import functools
import os
import struct
import sys
from array import array
from pathlib import Path
from typing import NamedTuple

SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENDOFCHAIN = 0xFFFFFFFE
_FREESECT = 0xFFFFFFFF
_MAXREGSECT = 0xFFFFFFFA
_NOSTREAM = 0xFFFFFFFF
_HEADER_DIFAT = 109
# A directory deeper than this is hostile (MSG nests two or three levels).
MAX_DEPTH = 64
STORAGE, STREAM, ROOT = 1, 2, 5
# A directory entry: name, name length, type, colour, left, right, child, (CLSID, state bits,
# times skipped), first sector, size.
_ENTRY = struct.Struct("<64sHBBIII36xIQ")


class CfbError(Exception):
    """The container is damaged: the caller turns this into ``malformed``."""


class Entry(NamedTuple):
    """One directory entry: its name as written, kind, first sector, size and child tree."""

    name: str
    kind: int  # STORAGE, STREAM or ROOT
    start: int
    size: int
    child: int  # the root of the storage's sibling tree, _NOSTREAM if none


class CompoundFile:
    """A compound file's directory, with storages listed and streams read on demand.

    Only the storages a caller looks into are walked (a small MSG's sniff and read
    touch the root and two or three storages of fifty entries).
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        if len(data) < 512 or data[:8] != SIGNATURE:
            raise CfbError("not a compound file")
        major, byte_order, shift, mini_shift = struct.unpack_from("<HHHH", data, 0x1A)
        if byte_order != 0xFFFE or (major, shift) not in ((3, 9), (4, 12)) or mini_shift != 6:
            raise CfbError("unsupported header")
        self._sector = 1 << shift
        self._mini = 1 << mini_shift
        (fat_count, first_dir, _txn, self._cutoff, first_minifat, minifat_count, first_difat, difat_count) = (
            struct.unpack_from("<IIIIIIII", data, 0x2C)
        )
        self._sectors = (len(data) + self._sector - 1) // self._sector - 1  # sectors after the header
        if fat_count > self._sectors or difat_count > self._sectors or minifat_count > self._sectors:
            raise CfbError("header counts exceed the file")
        fat_sectors = list(struct.unpack_from(f"<{_HEADER_DIFAT}I", data, 0x4C))
        sector = first_difat
        for _ in range(difat_count):  # the DIFAT chain: 127 (or 1023) FAT sector numbers and a next pointer
            if sector > _MAXREGSECT:
                break
            block = self._sector_bytes(sector)
            fat_sectors.extend(struct.unpack_from(f"<{self._sector // 4}I", block))
            sector = fat_sectors.pop()
        fat_sectors = [s for s in fat_sectors[:fat_count] if s <= _MAXREGSECT]
        if len(fat_sectors) != fat_count:
            raise CfbError("the FAT is not fully listed")
        self._fat = _table(b"".join(self._sector_bytes(s) for s in fat_sectors))
        directory = self._chain_bytes(first_dir, self._fat, self._sector, self._read_sector)
        self._records = list(_ENTRY.iter_unpack(directory[: len(directory) // 128 * 128]))
        if not self._records or self._records[0][2] != ROOT:
            raise CfbError("the first directory entry is not the root")
        self._first_minifat = first_minifat if minifat_count else _ENDOFCHAIN
        self._minifat: array[int] | None = None
        self._ministream: bytes | None = None
        self._children: dict[int, dict[str, int]] = {}
        self.root = self._entry(0)

    def _entry(self, index: int) -> Entry:
        raw, name_len, kind, _color, _left, _right, child, start, size = self._records[index]
        if name_len > 64 or name_len % 2:
            raise CfbError("a directory name has an impossible length")
        # Version 3 files may carry garbage in the size's high half ([MS-CFB] 2.6.3).
        return Entry(
            raw[: max(0, name_len - 2)].decode("utf-16-le", "replace"),
            kind,
            start,
            size & 0xFFFFFFFF if self._sector == 512 else size,
            child,
        )

    def children(self, storage: Entry) -> dict[str, Entry]:
        """A storage's entries by lower-case name: its sibling tree, walked with loop detection."""
        return {name: self._entry(index) for name, index in self._child_indexes(storage.child).items()}

    def _child_indexes(self, top: int) -> dict[str, int]:
        found = self._children.get(top)
        if found is not None:
            return found
        found = {}
        count = len(self._records)
        seen: set[int] = set()
        stack = [top]
        while stack:
            index = stack.pop()
            if index == _NOSTREAM:
                continue
            if index >= count or index in seen or index == 0:
                raise CfbError("the directory tree loops or points outside itself")
            seen.add(index)
            raw, name_len, kind, _color, left, right, _child, _start, _size = self._records[index]
            stack.append(left)
            stack.append(right)
            if (kind == STORAGE or kind == STREAM) and 0 < name_len <= 64:
                found[_key(raw[: name_len - 2])] = index
        self._children[top] = found
        return found

    def find(self, path: str) -> Entry | None:
        """The entry at a "/"-separated path (names compare case-blind), or None."""
        top = self.root.child
        index = 0
        for part in path.lower().split("/"):
            index = self._child_indexes(top).get(part, -1)
            if index < 0:
                return None
            top = self._records[index][6]
        return self._entry(index)

    def names(self) -> set[str]:
        """Every stream and storage path, lower case, at most MAX_DEPTH storages deep."""
        out: set[str] = set()
        stack: list[tuple[int, str, int]] = [(self.root.child, "", 1)]
        walked: set[int] = set()
        while stack:
            top, prefix, depth = stack.pop()
            if depth > MAX_DEPTH or top in walked:
                raise CfbError("the directory nests too deeply or loops")
            walked.add(top)
            for name, index in self._child_indexes(top).items():
                out.add(prefix + name)
                record = self._records[index]
                if record[2] == STORAGE and record[6] != _NOSTREAM:
                    stack.append((record[6], f"{prefix}{name}/", depth + 1))
        return out

    def read(self, path: str) -> bytes | None:
        """A stream's bytes, or None if there is no such stream."""
        entry = self.find(path)
        if entry is None or entry.kind != STREAM:
            return None
        return self.read_entry(entry)

    def read_entry(self, entry: Entry) -> bytes:
        if entry.size > len(self._data):
            raise CfbError("a stream claims more bytes than the file holds")
        if entry.size == 0:
            return b""
        if entry.size < self._cutoff:
            if self._ministream is None:
                root = self.root
                self._minifat = _table(
                    self._chain_bytes(self._first_minifat, self._fat, self._sector, self._read_sector)
                    if self._first_minifat <= _MAXREGSECT
                    else b""
                )
                self._ministream = (
                    self._chain_bytes(root.start, self._fat, self._sector, self._read_sector, root.size)
                    if root.size
                    else b""
                )
            return self._chain_bytes(entry.start, self._minifat or _table(b""), self._mini, self._read_mini, entry.size)
        return self._chain_bytes(entry.start, self._fat, self._sector, self._read_sector, entry.size)

    # --- sectors and chains ------------------------------------------------------------------

    def _sector_bytes(self, sector: int) -> bytes:
        if sector >= self._sectors:
            raise CfbError(f"sector {sector} is past the end of the file")
        start = (sector + 1) * self._sector
        block = self._data[start : start + self._sector]
        # A truncated last sector is common in real files; pad it as Office does.
        return block if len(block) == self._sector else block.ljust(self._sector, b"\0")

    def _read_sector(self, sector: int) -> bytes:
        return self._sector_bytes(sector)

    def _read_mini(self, sector: int) -> bytes:
        start = sector * self._mini
        ministream = self._ministream or b""
        if start + self._mini > len(ministream):
            raise CfbError(f"mini sector {sector} is past the end of the mini stream")
        return ministream[start : start + self._mini]

    def _chain_bytes(self, first: int, table: array[int], unit: int, read: object, size: int | None = None) -> bytes:
        """The bytes of a sector chain; a loop, a free or out-of-range sector is damage."""
        links = len(table)
        blocks: list[bytes] = []
        seen: set[int] = set()
        sector = first
        while sector != _ENDOFCHAIN:
            if sector >= links or sector in seen:
                raise CfbError("a sector chain loops or leaves its table")
            seen.add(sector)
            blocks.append(read(sector))  # type: ignore[operator]
            sector = table[sector]
            if size is not None and len(blocks) * unit >= size:
                break
        data = b"".join(blocks)
        if size is not None and len(data) < size:
            raise CfbError("a stream is shorter than its declared size")
        return data if size is None else data[:size]


@functools.lru_cache(maxsize=4096)
def _key(raw: bytes) -> str:
    """A directory name as a lookup key; remembered, since every MSG repeats the same few hundred."""
    return raw.decode("utf-16-le", "replace").lower()


def _table(data: bytes) -> array[int]:
    """A FAT or mini FAT as 32-bit little-endian sector numbers."""
    table = array("I", data[: len(data) // 4 * 4])
    if sys.byteorder == "big":
        table.byteswap()
    return table


def open_compound(path: Path, max_bytes: int, *, head: bytes = b"", head_size: int = 0) -> CompoundFile:
    """Read ``path`` (at most ``max_bytes``, the caller's size cap) and parse its directory.

    ``head`` is what a caller already read of the file asking for ``head_size``
    bytes; shorter than that, it is the whole file and is not read again.
    """
    if head and len(head) < head_size:
        return CompoundFile(head)
    with Path(path).open("rb") as fh:
        # The size first: read(n) allocates n bytes before it reads.
        if os.fstat(fh.fileno()).st_size > max_bytes:
            raise CfbError("the file is larger than allowed")
        data = fh.read()
    if len(data) > max_bytes:
        raise CfbError("the file is larger than allowed")
    return CompoundFile(data)
