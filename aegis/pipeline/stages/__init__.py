"""One module per stage. Each has ``run(settings, doc, blob, inputs)`` (no database,
no Celery) and ``save(session, document, result)``; some have ``load(session,
document)`` to read what ``run`` needs from earlier stages."""

from __future__ import annotations

from aegis.config import Settings
from aegis.formats.base import Limits


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_pages=settings.max_pages,
        max_bytes=settings.max_upload_bytes,
        max_text_chars=settings.max_text_chars,
    )
