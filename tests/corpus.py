"""Where the shared corpus of real documents is (see its README).

``AEGIS_CORPUS_DIR`` wins; otherwise ``../shared/corpus`` beside the checkout, then
the workplace's ``/work/shared/corpus``, so a clone in any folder finds it.
"""

from __future__ import annotations

import os
from pathlib import Path

_BESIDE = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def _find() -> Path:
    configured = os.environ.get("AEGIS_CORPUS_DIR", "").strip()
    if configured:
        return Path(configured)
    for candidate in (_BESIDE, Path("/work/shared/corpus")):
        if candidate.is_dir():
            return candidate
    return _BESIDE


CORPUS = _find()
