"""Cut page text into overlapping chunks for embedding and search.

Chunks follow the document's own structure: a heading starts a new chunk,
paragraphs are kept whole when they fit, and only a paragraph longer than the
bound is split, at sentence ends and then at spaces, never inside a word. Each
chunk remembers the pages it spans so a search hit can cite ``p. 4-5``. The
overlap repeats the end of the previous chunk (whole words) so a sentence cut
at a boundary is still findable in one piece.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from aegis.formats.base import Page

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")
_HEADING = re.compile(
    r"^(#{1,6}\s+\S"  # Markdown
    r"|\*{1,6}\s+\S"  # Org
    r"|[A-Z0-9][A-Z0-9 ,:;&'\-]{3,80}$"  # ALL-CAPS title lines
    r"|(\d+(\.\d+)*\.?|[IVXLC]+\.)\s+[A-Z]\S*.{0,80}$)"  # numbered section titles
)


@dataclass
class ChunkSpan:
    """One chunk of text and the pages it came from (1-based, inclusive)."""

    index: int
    text: str
    page_start: int
    page_end: int


@dataclass
class _Block:
    text: str
    page: int
    heading: bool


def _is_heading(block: str) -> bool:
    first = block.strip().split("\n", 1)[0]
    return "\n" not in block.strip() and len(first) <= 120 and bool(_HEADING.match(first))


def _blocks(pages: list[Page]) -> Iterator[_Block]:
    """Paragraphs in order, each tagged with its page and whether it is a heading."""
    for page in pages:
        for raw in _PARAGRAPH_BREAK.split(page.text):
            text = raw.strip()
            if not text:
                continue
            # Single newlines inside a paragraph stay (lists, tables, addresses), but a
            # Markdown heading line on its own starts its own block.
            lines = text.split("\n")
            buffer: list[str] = []
            for line in lines:
                if line.lstrip().startswith("#") and _is_heading(line) and buffer:
                    yield _Block("\n".join(buffer), page.number, _is_heading("\n".join(buffer)))
                    buffer = []
                buffer.append(line)
            if buffer:
                joined = "\n".join(buffer)
                yield _Block(joined, page.number, _is_heading(joined))


def _split_long(text: str, max_chars: int) -> list[str]:
    """Split an over-long paragraph at sentence ends, then spaces, never mid-word."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        words = sentence.split(" ")
        current = ""
        for word in words:
            while len(word) > max_chars:
                # A "word" longer than a chunk (a URL, base64): cut it, there is no better place.
                if current:
                    pieces.append(current)
                    current = ""
                pieces.append(word[:max_chars])
                word = word[max_chars:]
            candidate = f"{current} {word}" if current else word
            if len(candidate) > max_chars:
                pieces.append(current)
                current = word
            else:
                current = candidate
        if current:
            pieces.append(current)
    # Re-pack short sentences so pieces approach the bound.
    packed: list[str] = []
    for piece in pieces:
        if packed and len(packed[-1]) + 1 + len(piece) <= max_chars:
            packed[-1] = f"{packed[-1]} {piece}"
        else:
            packed.append(piece)
    return [p for p in packed if p.strip()]


def _tail_words(text: str, overlap: int) -> str:
    """The last ``overlap`` characters of ``text``, starting at a word boundary."""
    if overlap <= 0 or not text:
        return ""
    if len(text) <= overlap:
        return text
    tail = text[-overlap:]
    if not text[-overlap - 1].isspace():
        cut = re.search(r"\s", tail)
        if cut is None:
            return ""
        tail = tail[cut.end() :]
    return tail.strip()


def chunk_pages(pages: list[Page], max_chars: int = 1500, overlap: int = 200) -> list[ChunkSpan]:
    """Chunk ``pages`` into spans of at most ``max_chars`` characters.

    ``overlap`` characters (whole words) from the end of one chunk start the next
    one; it is capped at half the bound so chunks always make progress.
    """
    if max_chars < 20:
        raise ValueError("max_chars must be at least 20")
    overlap = max(0, min(overlap, max_chars // 2))
    chunks: list[ChunkSpan] = []
    parts: list[str] = []
    size = 0
    has_content = False  # parts hold more than the carried overlap
    start = end = 0
    carry = ""
    carry_page = 0

    def flush() -> None:
        nonlocal parts, size, has_content, carry, carry_page
        if has_content:
            body = "".join(parts).strip()
            chunks.append(ChunkSpan(len(chunks), body, start, end))
            carry = _tail_words(body, overlap)
            carry_page = end
        parts, size, has_content = [], 0, False

    for block in _blocks(pages):
        limit = max_chars - overlap - 2  # room for the carried tail and a separator
        pieces = [block.text] if len(block.text) <= limit else _split_long(block.text, limit)
        for number, piece in enumerate(pieces):
            # Pieces of one long paragraph rejoin with a space; paragraphs with a blank line.
            separator = " " if number else "\n\n"
            if block.heading and number == 0:
                flush()
                # A new section needs no tail of the previous one for context.
                carry = ""
            elif has_content and size + len(separator) + len(piece) > max_chars:
                flush()
            if not has_content:
                parts, size, start = [], 0, block.page
                if carry and len(carry) + len(separator) + len(piece) <= max_chars:
                    parts, size, start = [carry], len(carry), carry_page
            if parts:
                parts.append(separator)
                size += len(separator)
            parts.append(piece)
            size += len(piece)
            has_content = True
            end = block.page
    flush()
    return chunks
