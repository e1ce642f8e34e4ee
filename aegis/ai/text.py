"""Text hygiene shared by every provider: cleaning, tokens, sentences, URLs.

Document text is untrusted. Bidirectional overrides and zero-width characters are
the usual way to hide instructions from a person reviewing a prompt or to make a
stored summary render differently from what it says, so they are stripped before
text reaches a model and again from what a model returns. The same cleaning makes
the local features stable (a soft hyphen inside a word would split it in two).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Bidi embeddings/overrides/isolates and marks, zero-width space/joiners, word
# joiner and invisible operators, BOM, Mongolian vowel separator, soft hyphen,
# and the noncharacters pdfium emits for hyphenation points.
_INVISIBLE = (
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064"
    "\u2066\u2067\u2068\u2069\ufeff\ufffe\uffff"
)
# A hyphenation point at a line end joins the word across the break.
_HYPHENATION_BREAK = re.compile("[\u00ad\ufffe][ \t]*\r?\n[ \t]*")
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
# C0/C1 controls except tab and newline (carriage returns become newlines).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES_RE = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")

_URL_RE = re.compile(
    r"""(?ix)
    (?:\b(?:https?|ftp)://|\bwww\.)[^\s<>"'`)\]}]+        # scheme or www. form
    |
    \b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+          # bare domain ...
      (?:com|org|net|io|ai|gov|edu|info|biz|dev|app|co|us|uk|de|fr|ru|cn)\b
      (?:/[^\s<>"'`)\]}]*)?                                 # ... with an optional path
    """
)
_TRAILING_PUNCT = ".,;:!?'\""

_WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_SENTENCE_END_RE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[.!?。！？][\"'”’)\]])\s+")
_TERMINAL = ".!?。！？:;\"'”’)]"
_BULLET_RE = re.compile(r"^\s*(?:[-*•▪◦·]|\d+[.)]|[a-z][.)])\s+")

MAX_TOKEN_CHARS = 40


def clean_text(text: str) -> str:
    """Remove invisible and control characters; normalise compatibility forms.

    NFKC folds ligatures and full-width forms ("ﬁ" → "fi") so the same word hashes
    the same way whichever PDF producer wrote it.
    """
    if not text:
        return ""
    text = _HYPHENATION_BREAK.sub("", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE_RE.sub("", text)
    text = _CONTROL_RE.sub(" ", text)
    return unicodedata.normalize("NFKC", text)


def collapse_whitespace(text: str) -> str:
    return _SPACES_RE.sub(" ", text.replace("\n", " ")).strip()


def fold(text: str) -> str:
    """Case- and accent-insensitive form, so "Résumé" and "resume" meet.

    Combining marks are dropped after NFKD and the result recomposed, which keeps
    scripts such as Hangul (decomposed but not combining) intact.
    """
    if text.isascii():
        return text.lower()  # what the general path gives for ASCII, ten times faster
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", strip_marks(decomposed))


# Characters already classified, and the combining marks among them (as a
# ``str.translate`` table that deletes them). Text uses few distinct characters,
# so after the first documents a text is one set difference and one translate.
_SEEN: set[str] = set()
_MARKS: dict[int, None] = {}
_SEEN_LIMIT = 50_000


def strip_marks(text: str) -> str:
    """``text`` without characters of a non-zero combining class (``unicodedata.combining``)."""
    new = set(text).difference(_SEEN)
    if new:
        if len(_SEEN) > _SEEN_LIMIT:
            _SEEN.clear()  # bounded for hostile text; the marks found stay in _MARKS
        for ch in new:
            if unicodedata.combining(ch):
                _MARKS[ord(ch)] = None
        _SEEN.update(new)
    return text.translate(_MARKS)


def tokenize(text: str) -> list[str]:
    """Folded word tokens; apostrophes inside words are kept ("don't")."""
    folded = fold(text)
    if "’" in folded:
        folded = folded.replace("’", "'")  # only ever inside a word: the pattern keeps it there
    return [token for token in _WORD_RE.findall(folded) if len(token) <= MAX_TOKEN_CHARS]


def _paragraphs(text: str) -> list[str]:
    """Re-join lines that extraction wrapped, keeping headings and list items apart.

    PDF text arrives one visual line at a time; a sentence spans lines, but a
    short line without closing punctuation followed by a capitalised line is a
    heading (or a title) and must not glue itself to the next sentence.
    """
    paragraphs: list[str] = []
    current: list[str] = []
    for raw in text.split("\n"):
        line = collapse_whitespace(raw)
        if not line:
            if current:
                paragraphs.append(" ".join(current))
                current = []
            continue
        if current:
            previous = current[-1]
            heading_like = len(previous.split()) <= 10 and not previous.endswith(tuple(_TERMINAL))
            starts_block = line[:1].isupper() or line[:1].isdigit() or bool(_BULLET_RE.match(line))
            if (heading_like and starts_block) or _BULLET_RE.match(line):
                paragraphs.append(" ".join(current))
                current = []
        current.append(line)
    if current:
        paragraphs.append(" ".join(current))
    return paragraphs


def split_sentences(text: str) -> list[str]:
    """Sentences and heading-like fragments, whitespace collapsed, empties dropped."""
    out: list[str] = []
    for paragraph in _paragraphs(text):
        out.extend(p.strip() for p in _SENTENCE_END_RE.split(paragraph) if p.strip())
    return out


def ends_sentence(fragment: str) -> bool:
    return fragment.rstrip().endswith(tuple(".!?。！？\"'”’)"))


def find_urls(text: str) -> list[str]:
    return [m.group(0).rstrip(_TRAILING_PUNCT) for m in _URL_RE.finditer(text)]


def strip_unseen_urls(text: str, source: str) -> str:
    """Remove URLs and domains from ``text`` that do not appear in ``source``.

    A model may invent links (or be tricked into adding one); only links the
    document itself contains may survive into what we store and show.
    """
    if not text:
        return text
    haystack = source.casefold()

    def _keep(match: re.Match[str]) -> str:
        url = match.group(0)
        core = url.rstrip(_TRAILING_PUNCT)
        if core.casefold() in haystack:
            return url
        return url[len(core) :]  # keep trailing punctuation, drop the URL

    cleaned = _URL_RE.sub(_keep, text)
    cleaned = re.sub(r"\(\s*\)|\[\s*\]", "", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip()


def sanitize_model_text(text: str, source: str, max_chars: int) -> str:
    """Clean a string a model produced before it is stored."""
    text = collapse_whitespace(clean_text(text))
    text = strip_unseen_urls(text, source)
    if len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        text = (cut[:space] if space > max_chars * 0.6 else cut).rstrip(" ,;:") + "…"
    return text


def dedupe(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        key = fold(item)
        if item and key not in seen:
            seen.add(key)
            out.append(item)
    return out
