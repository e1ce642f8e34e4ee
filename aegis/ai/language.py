"""Language detection for AI results, with graceful fallbacks.

The project's own detector (``aegis.language``) is preferred so metadata and AI
agree; if it is missing (it lives in another module that may not be installed in
every deployment) ``py3langid`` is tried, and finally a stopword vote that knows
a handful of European languages. Returns an ISO 639-1 code or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from aegis.ai.stopwords import guess_language
from aegis.ai.text import tokenize

_SAMPLE_CHARS = 20_000
_CODE_RE = re.compile(r"^[a-z]{2,3}$")


def _project_detector() -> Callable[[str], object] | None:
    try:
        from aegis.language import detect_language  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - an absent or broken optional module
        return None
    return detect_language


def _normalise(value: object) -> str | None:
    if isinstance(value, tuple) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("language") or value.get("code")
    if not isinstance(value, str):
        return None
    code = value.strip().lower().replace("_", "-").split("-")[0]
    return code if _CODE_RE.match(code) else None


def detect_language(text: str) -> str | None:
    sample = text[:_SAMPLE_CHARS]
    if len(sample.strip()) < 20:
        return None
    detector = _project_detector()
    if detector is not None:
        try:
            return _normalise(detector(sample))
        except Exception:  # noqa: BLE001 - fall through to our own guess
            pass
    try:
        import py3langid  # type: ignore[import-untyped]

        code, _score = py3langid.classify(sample)
        return _normalise(code)
    except Exception:  # noqa: BLE001 - not installed, or failed on odd input
        return guess_language(tokenize(sample))
