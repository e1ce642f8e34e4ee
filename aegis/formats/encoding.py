"""Decode text files whose encoding nobody told us.

Uploads arrive as bytes with a name; the extension says nothing about the
encoding. We trust, in order, a byte order mark, strict UTF-8 (which almost never
decodes text that is not UTF-8), the NUL pattern of BOM-less UTF-16/32, and then
charset-normalizer's statistical guess (cp1252 and friends). Binary data is told
apart by the share of control characters after decoding.
"""

from __future__ import annotations

import codecs

from aegis.formats.base import DocumentError
from aegis.vocabulary import ErrorCode

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SAMPLE = 64 * 1024


def bom_encoding(data: bytes) -> tuple[str, int] | None:
    """The encoding announced by a byte order mark and the mark's length."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    return None


def _nul_pattern(sample: bytes) -> str | None:
    """Guess BOM-less UTF-16/32 from where the NULs of ASCII characters fall."""
    if len(sample) < 8 or sample.count(0) < len(sample) // 4:
        return None
    size = len(sample) - len(sample) % 4
    quads = [sample[i : i + 4] for i in range(0, min(size, 4096), 4)]
    if quads and sum(q[1:] == b"\0\0\0" for q in quads) > len(quads) * 0.6:
        return "utf-32-le"
    if quads and sum(q[:3] == b"\0\0\0" for q in quads) > len(quads) * 0.6:
        return "utf-32-be"
    even = sample[0:4096:2]
    odd = sample[1:4096:2]
    if odd.count(0) > len(odd) * 0.6 and even.count(0) < len(even) * 0.1:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.6 and odd.count(0) < len(odd) * 0.1:
        return "utf-16-be"
    return None


def _mostly_utf8(sample: bytes) -> bool:
    """UTF-8 with a few broken sequences (a bad cut, a stray byte) is still UTF-8.

    Text in a legacy 8-bit encoding almost never forms valid multibyte UTF-8
    sequences, so many valid ones and few invalid ones decide it.
    """
    decoded = sample.decode("utf-8", errors="replace")
    invalid = decoded.count("\ufffd")
    valid_multibyte = sum(1 for ch in decoded if ord(ch) > 0x7F) - invalid
    return valid_multibyte >= 4 and valid_multibyte >= 2 * invalid


def detect_encoding(data: bytes) -> str:
    """Name the encoding of ``data`` (a whole file or a large prefix of it)."""
    bom = bom_encoding(data)
    if bom:
        return bom[0]
    sample = data[:_SAMPLE]
    nul = _nul_pattern(sample)
    if nul:
        return nul
    try:
        # A cut at the sample boundary may split a multibyte sequence.
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if len(data) > _SAMPLE and exc.start >= len(sample) - 4:
            return "utf-8"
        if _mostly_utf8(sample):
            return "utf-8"
    from charset_normalizer import from_bytes

    results = from_bytes(data[: 4 * _SAMPLE])
    best = results.best()
    if best is None or best.encoding is None:
        return "utf-8"
    # Short Latin texts often tie between cp1250/cp1252/cp1257; the tie goes to
    # cp1252, by far the most common 8-bit encoding of Western text.
    tied = {m.encoding for m in results if m.chaos == best.chaos and m.coherence == best.coherence}
    if "cp1252" in tied:
        return "cp1252"
    return str(best.encoding)


def looks_binary(text: str) -> bool:
    """True when decoded text is mostly controls or replacement characters."""
    sample = text[:_SAMPLE]
    if not sample:
        return False
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    return bad > max(8, len(sample) // 20)


def decode_bytes(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode ``data`` and return ``(text, encoding)``; undecodable bytes become U+FFFD."""
    encoding = encoding or detect_encoding(data)
    bom = bom_encoding(data)
    if bom and bom[0] == encoding:
        data = data[bom[1] :]
    try:
        text = data.decode(encoding, errors="replace")
    except LookupError:
        encoding = "utf-8"
        text = data.decode(encoding, errors="replace")
    return text, encoding


def read_text(path: object, max_bytes: int, encoding: str | None = None) -> tuple[str, str]:
    """Read and decode a text file, refusing what is not text."""
    from pathlib import Path

    p = Path(str(path))
    with p.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE)
    text, used = decode_bytes(data, encoding)
    if looks_binary(text):
        raise DocumentError(ErrorCode.TYPE_MISMATCH, "The file is binary data, not text as its name says.")
    return text, used
