"""Language identification: an ISO 639-1 code for a document's text, or None.

One detector for metadata and AI results, so both always agree.

py3langid is langid.py's maintained fork: pure pip, ships its model, needs no
network, classifies a few kilobytes in well under a millisecond once loaded.
The identifier is built lazily, once per process (a Celery prefork child), not at
import, so importing aegis stays cheap.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Below this many letters, guesses are mostly noise ("OK", a number, a name).
MIN_LETTERS = 20
# A confidence below this means "mixed or unclear"; we would rather say nothing.
MIN_CONFIDENCE = 0.5
# Enough text to decide; more only costs time.
SAMPLE_CHARS = 10_000

_NOT_LETTERS = re.compile(r"[\W\d_]+", re.UNICODE)
_URLS = re.compile(r"\S+://\S+|\S+@\S+\.\S+")


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """The dominant language of ``text`` as an ISO 639-1 code, None if unclear."""
    if not text:
        return None
    sample = _URLS.sub(" ", text[:SAMPLE_CHARS])
    letters = _NOT_LETTERS.sub("", sample)
    if len(letters) < MIN_LETTERS:
        return None
    try:
        code, confidence = _identifier().classify(sample)
    except Exception:  # noqa: BLE001 - language is a nicety, never a reason to fail
        return _stopword_guess(sample)
    code = str(code)
    # The model also knows codes outside ISO 639-1 (e.g. "zxx", no linguistic content).
    if confidence < MIN_CONFIDENCE or len(code) != 2:
        return None
    return code


def _stopword_guess(sample: str) -> str | None:
    """Last resort when the model cannot classify: a stopword vote."""
    from aegis.ai.stopwords import guess_language
    from aegis.ai.text import tokenize

    return guess_language(tokenize(sample))
