"""A small zip reader for the packages we open three times per file (sniff, gate, parse).

CPython's ``zipfile`` builds a ZipInfo object per entry and decodes its extra
fields on every open; for a 40-entry PPTX that was a third of the time we spent
on it. This reader keeps the central directory as tuples and inflates a member
on demand, no further than asked. It reads only ordinary archives (no Zip64, no
prefix before the first entry, stored or deflated members, one disk); for
anything else it raises :class:`Unsupported` and the caller opens ``zipfile``,
so an unusual archive is judged exactly as before. Member names are made as
``zipfile`` makes them (cp437 unless flagged UTF-8, cut at a NUL; the last
entry of a repeated name wins), reads fail with ``zipfile.BadZipFile`` on the
same damage (local header mismatch, bad CRC, short data), so the callers' error
handling is unchanged.
"""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple

# Files above this are left to zipfile: their fixed cost is noise next to their content.
MAX_IN_MEMORY = 8 * 1024 * 1024
_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
# The central record's fields the reader keeps (signature, flags, method, CRC, sizes, name,
# extra and comment lengths, header offset), the others skipped as padding: fewer objects per entry.
_CENTRAL_KEPT = struct.Struct("<4s4xHH4xLLLHHH8xL")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_STORED, _DEFLATED = 0, 8


class Unsupported(Exception):
    """An archive this reader does not take: open it with ``zipfile``."""


class Info(NamedTuple):
    """The central directory's record of a member, under ZipInfo's attribute names."""

    filename: str
    flag_bits: int
    compress_type: int
    CRC: int  # noqa: N815 - ZipInfo's name
    compress_size: int
    file_size: int
    header_offset: int


# Building the tuple directly skips NamedTuple's Python-level __new__ (40 members per package).
_new_info = tuple.__new__


def _name(raw: bytes, flags: int) -> str:
    """A member name as zipfile makes it: UTF-8 if flagged, else cp437 (ASCII the common case), cut at a NUL."""
    try:
        name = raw.decode("ascii")
    except UnicodeDecodeError:
        name = raw.decode("utf-8" if flags & 0x800 else "cp437")
    nul = name.find("\0")
    return name[:nul] if nul >= 0 else name


class LeanZip:
    """An archive held in memory: names and sizes from its central directory, members on demand."""

    def __init__(self, path: Path, data: bytes | None = None) -> None:
        self._path = path  # for zipfile only (Path(path) reparses the path: measurable on a small open)
        if data is None:
            with open(path, "rb") as fh:
                # The size first: read(n) allocates n bytes before it reads.
                if os.fstat(fh.fileno()).st_size > MAX_IN_MEMORY:
                    raise Unsupported("large archive")
                data = fh.read()
        if len(data) > MAX_IN_MEMORY:
            raise Unsupported("large archive")
        self._data = data
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
        if end < 0 or end + _EOCD.size > len(data):
            raise Unsupported("no end record")
        _sig, disk, cd_disk, _here, count, cd_size, cd_offset, comment = _EOCD.unpack_from(data, end)
        if disk or cd_disk or count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
            raise Unsupported("Zip64 or multi-disk")
        if cd_offset + cd_size != end or end + _EOCD.size + comment != len(data):
            raise Unsupported("prefixed, trailing or inconsistent archive")
        self._infos: dict[str, Info] = {}
        self._order: list[Info] = []
        position = cd_offset
        unpack = _CENTRAL_KEPT.unpack_from
        record = _CENTRAL.size
        infos, order = self._infos, self._order
        for _ in range(count):
            if position + record > end:
                raise Unsupported("truncated central directory")
            sig, flags, method, crc, csize, usize, name_len, extra_len, comment_len, offset = unpack(data, position)
            if sig != b"PK\x01\x02":
                raise Unsupported("bad central directory")
            if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF or offset == 0xFFFFFFFF:
                raise Unsupported("Zip64 member")
            start = position + record
            raw = data[start : start + name_len]
            # _name(raw, flags) inlined for the common case (ASCII, no NUL): 40 members a package.
            name = raw.decode("ascii") if raw.isascii() and b"\0" not in raw else _name(raw, flags)
            info = _new_info(Info, (name, flags, method, crc, csize, usize, offset))
            infos[name] = info
            order.append(info)
            position = start + name_len + extra_len + comment_len
        if position != end:
            raise Unsupported("central directory size mismatch")
        self._fallback: zipfile.ZipFile | None = None
        # What readers remember about this archive while it is lent from validate to
        # extraction (aegis.formats.ooxml.Package): the limits its gate passed, small parsed parts.
        self.gate_passed: dict[Any, set[str]] = {}
        self.parsed: dict[Any, Any] = {}

    def __enter__(self) -> LeanZip:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._fallback is not None:
            self._fallback.close()
            self._fallback = None  # a lent archive is read again after its first reader closes it

    def infolist(self) -> list[Info]:
        return list(self._order)

    def namelist(self) -> list[str]:
        return [info.filename for info in self._order]

    def getinfo(self, name: str) -> Info:
        return self._infos[name]

    def _payload(self, name: str) -> tuple[Info, bytes] | None:
        """The member's record and compressed bytes, or None if zipfile must read it."""
        info = self._infos[name]
        if info.compress_type not in (_STORED, _DEFLATED) or info.flag_bits & 0x1:
            return None
        offset = info.header_offset
        if offset + _LOCAL.size > len(self._data):
            raise zipfile.BadZipFile("Truncated file header")
        header = _LOCAL.unpack_from(self._data, offset)
        if header[0] != b"PK\x03\x04":
            raise zipfile.BadZipFile("Bad magic number for file header")
        start = offset + _LOCAL.size
        local_name = self._data[start : start + header[10]]
        if _name(local_name, info.flag_bits) != name:
            raise zipfile.BadZipFile(f"File name in directory {name!r} and header {local_name!r} differ.")
        start += header[10] + header[11]
        payload = self._data[start : start + info.compress_size]
        if len(payload) < info.compress_size:
            raise EOFError
        return info, payload

    def _zipfile(self) -> zipfile.ZipFile:
        if self._fallback is None:
            self._fallback = zipfile.ZipFile(self._path)
        return self._fallback

    def read(self, name: str) -> bytes:
        """A whole member, CRC-checked, never more than its declared size."""
        found = self._payload(name)
        if found is None:
            return self._zipfile().read(name)
        info, payload = found
        if info.compress_type == _STORED or info.file_size == 0:  # max_length 0 would mean "no limit"
            data = payload[: info.file_size]
        else:
            inflater = zlib.decompressobj(-15)
            try:
                data = inflater.decompress(payload, info.file_size)
            except zlib.error as exc:
                raise zipfile.BadZipFile(f"Bad compressed data in {name!r}") from exc
        if len(data) < info.file_size:
            raise EOFError
        if zlib.crc32(data) != info.CRC:
            raise zipfile.BadZipFile(f"Bad CRC-32 for file {name!r}")
        return data

    def open(self, name: str) -> Any:
        """A reader of the member's first bytes, inflated no further than asked."""
        found = self._payload(name)
        if found is None:
            return self._zipfile().open(name)
        return _Member(*found)


class _Member:
    """``read(n)`` of a member's start, as ``zipfile.ZipExtFile`` gives it (no CRC check short of the end)."""

    def __init__(self, info: Info, payload: bytes) -> None:
        self._info = info
        self._payload = payload

    def __enter__(self) -> _Member:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def read(self, size: int = -1) -> bytes:
        limit = self._info.file_size if size < 0 else min(size, self._info.file_size)
        if self._info.compress_type == _STORED or limit == 0:  # max_length 0 would mean "no limit"
            return self._payload[:limit]
        try:
            return zlib.decompressobj(-15).decompress(self._payload, limit)
        except zlib.error as exc:
            raise zipfile.BadZipFile(f"Bad compressed data in {self._info.filename!r}") from exc
