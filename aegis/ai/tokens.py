"""Token estimates without a tokenizer download.

``tiktoken`` fetches its vocabularies from the internet on first use, which a
worker must not depend on, and OpenAI-compatible servers use other tokenizers
anyway. So we estimate conservatively instead: about 3.5 ASCII characters per
token (English BPE averages nearer 4) and one token per non-ASCII character (CJK
is about that; accented Latin is cheaper). Over-estimating only makes budget
checks stricter and map-reduce pieces smaller, never a request too large.
"""

from __future__ import annotations

import math


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    ascii_chars = len(text) - non_ascii
    return math.ceil(ascii_chars / 3.5) + non_ascii


def chars_for_tokens(text: str, tokens: int) -> int:
    """How many leading characters of ``text`` fit in about ``tokens`` tokens."""
    if estimate_tokens(text) <= tokens:
        return len(text)
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if estimate_tokens(text[:mid]) <= tokens:
            low = mid
        else:
            high = mid - 1
    return low


def split_by_tokens(text: str, max_tokens: int) -> list[str]:
    """Consecutive pieces of at most ``max_tokens``, cut at paragraph or sentence ends."""
    pieces: list[str] = []
    rest = text
    while rest:
        size = chars_for_tokens(rest, max_tokens)
        if size >= len(rest):
            pieces.append(rest)
            break
        window = rest[:size]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            cut = window.rfind(separator)
            if cut > size // 2:
                cut += len(separator)
                break
        if cut <= size // 2:
            cut = size
        pieces.append(rest[:cut])
        rest = rest[cut:]
    return [p for p in pieces if p.strip()]
