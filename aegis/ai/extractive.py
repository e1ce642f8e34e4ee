"""Extractive summaries and keywords: no model, only the document's own words.

A sentence is worth as much as the topical words it contains (frequency of its
non-function words across the document, damped), lightly favouring early sentences
where documents usually say what they are about, and penalising very long ones so
a table flattened into one "sentence" does not win. Keywords are frequent content
words and recurring two-word phrases. Everything returned is a verbatim piece of
the document, so nothing here can invent facts or links.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from aegis.ai.stopwords import is_stopword
from aegis.ai.text import collapse_whitespace, dedupe, ends_sentence, split_sentences, tokenize

# Summaries and keywords look at the start of very long documents only: what a
# document is about is stated early, and this keeps the stage fast on 600 pages.
MAX_ANALYSIS_CHARS = 400_000
SUMMARY_SENTENCES = 3
SUMMARY_MAX_CHARS = 700
_MIN_WORDS, _MAX_WORDS = 5, 80
_NUMERIC = re.compile(r"^[\d.,'’]+$")


def _content(tokens: list[str]) -> list[str]:
    return [t for t in tokens if len(t) > 2 and not is_stopword(t) and not _NUMERIC.match(t)]


def analysis_tokens(text: str) -> list[str]:
    """The tokens of ``text``'s analysed head, which :func:`summarize` and :func:`keywords`
    both rank by: tokenizing 400,000 characters is a large part of either, so a caller
    running both computes them once."""
    return tokenize(text[:MAX_ANALYSIS_CHARS])


def summarize(
    text: str, max_sentences: int = SUMMARY_SENTENCES, max_chars: int = SUMMARY_MAX_CHARS,
    *, tokens: list[str] | None = None,
) -> str:
    """``tokens``: :func:`analysis_tokens` of ``text``, if the caller has them already."""
    text = text[:MAX_ANALYSIS_CHARS]
    sentences = split_sentences(text)
    if not sentences:
        return ""
    frequencies = Counter(_content(analysis_tokens(text) if tokens is None else tokens))
    if not frequencies:
        return _truncate(collapse_whitespace(text), max_chars)
    top = max(frequencies.values())
    scored: list[tuple[float, int, str]] = []
    for position, sentence in enumerate(sentences[:2000]):
        tokens = tokenize(sentence)
        if not (_MIN_WORDS <= len(tokens) <= _MAX_WORDS):
            continue
        words = set(_content(tokens))
        if not words:
            continue
        weight = sum(math.log1p(frequencies[w]) / math.log1p(top) for w in words)
        score = weight / math.sqrt(len(tokens)) * (1.0 + 0.5 / (1 + position / 5))
        if not ends_sentence(sentence):
            score *= 0.3  # a heading, a table row or a caption, not a statement
        scored.append((score, position, sentence))
    if not scored:
        return _truncate(collapse_whitespace(" ".join(sentences[:max_sentences])), max_chars)
    best = sorted(scored, key=lambda item: (-item[0], item[1]))[:max_sentences]
    chosen: list[str] = []
    length = 0
    for _, _, sentence in sorted(best, key=lambda item: item[1]):
        if chosen and length + len(sentence) > max_chars:
            break
        chosen.append(sentence)
        length += len(sentence) + 1
    return _truncate(" ".join(chosen), max_chars)


def keywords(text: str, limit: int = 10, *, tokens: list[str] | None = None) -> list[str]:
    """``tokens``: :func:`analysis_tokens` of ``text``, if the caller has them already."""
    text = text[:MAX_ANALYSIS_CHARS]
    if tokens is None:
        tokens = analysis_tokens(text)
    unigrams: Counter[str] = Counter(_content(tokens))
    bigrams: Counter[str] = Counter()
    for left, right in zip(tokens, tokens[1:], strict=False):
        if left in unigrams and right in unigrams and left != right:
            bigrams[f"{left} {right}"] += 1
    candidates: list[tuple[float, str]] = [
        (count * (1.0 + 0.1 * min(len(word), 10) / 10), word) for word, count in unigrams.items()
    ]
    candidates += [(count * 1.6, phrase) for phrase, count in bigrams.items() if count >= 2]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    chosen: list[str] = []
    for _, term in candidates:
        parts = term.split()
        # A phrase subsumes its words (and a word already in a phrase adds nothing).
        if len(parts) == 1 and any(term in c.split() for c in chosen if " " in c):
            continue
        if len(parts) == 2:
            chosen = [c for c in chosen if c not in parts]
        chosen.append(term)
        if len(chosen) >= limit:
            break
    return dedupe(chosen)[:limit]


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip(" ,;:") + "…"
