"""The extraction layer: decide what a file is, read its metadata and its text.

The pipeline stages call exactly four functions: :func:`validate`,
:func:`extract_metadata`, :func:`extract_pages` and :func:`decrypt_pdf`. Each
family of formats lives in its own module (``pdf``, ``text``, ``html``, ...) as
a :class:`~aegis.formats.base.FormatFamily`; :mod:`aegis.formats.registry` lists
them and ``Detection.family`` names one. Anything a library raises on a hostile
or broken file becomes a :class:`DocumentError` with a stable code here, so a
stage never has to know which parser failed or how.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from aegis.formats.base import Detection, DocumentError, Limits, Page
from aegis.formats.detect import resolve_family, sniff
from aegis.formats.names import extension_of, safe_filename
from aegis.formats.registry import REGISTRY
from aegis.formats.sanitize import cap_pages_text, clean_text, json_safe
from aegis.vocabulary import ErrorCode

__all__ = [
    "Detection",
    "DocumentError",
    "Limits",
    "Page",
    "decrypt_pdf",
    "extract_metadata",
    "extract_pages",
    "safe_filename",
    "validate",
]

log = logging.getLogger(__name__)

# Text sampled for language detection when reading metadata.
LANGUAGE_SAMPLE_CHARS = 20_000

# Families whose extraction reads the package validate opened (aegis.formats.ooxml.Package).
_KEEP_CONTAINER = frozenset({"pptx", "xlsx"})

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _guarded(what: str, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run a format function; anything but a DocumentError becomes one.

    RecursionError means the file nests deeper than a parser's stack, MemoryError
    that it expands beyond the worker's memory cap; both are properties of the
    file. Other exceptions come from parsers meeting damaged input.
    """
    try:
        return call(*args, **kwargs)
    except DocumentError:
        raise
    except RecursionError as exc:
        raise DocumentError(ErrorCode.NESTING_TOO_DEEP) from exc
    except MemoryError as exc:
        raise DocumentError(ErrorCode.TOO_COMPLEX) from exc
    except Exception as exc:  # noqa: BLE001 - the contract: only DocumentError leaves this package
        log.warning("%s failed on a damaged or unusual file", what, exc_info=exc)
        raise DocumentError(ErrorCode.MALFORMED) from exc


def validate(path: Path, filename: str, limits: Limits) -> Detection:
    """Decide the real type of ``path`` by content and check it can be processed.

    ``filename`` is the client's name for the file; only its extension is used,
    to choose which families it may claim to be. Raises :class:`DocumentError`.
    """
    path = path if isinstance(path, Path) else Path(path)  # Path(a Path) parses it again: ~3 µs
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The file could not be read.", rejected=False) from exc
    if size == 0:
        raise DocumentError(ErrorCode.EMPTY_FILE)
    if size > limits.max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE, f"The file is {size} bytes; the limit is {limits.max_bytes} bytes.")
    extension = extension_of(filename)
    sniffed = _guarded("sniff", sniff, path)
    family = resolve_family(extension, sniffed, path)
    detection = Detection(mime=sniffed.mime, family=family, extension=extension, container=sniffed.container)
    reader = REGISTRY.get(family)
    try:
        details = _guarded(f"{family}.check", reader.check, path, limits, detection) or {}
    finally:
        # A small zip (LeanZip, up to 8 MB in memory) stays lent to the Detection for PPTX and
        # XLSX extraction in the same process (`aegis extract`); other containers are dropped.
        if family not in _KEEP_CONTAINER:
            detection.container = None
    if sniffed.note:
        details["note"] = sniffed.note
    detection.details = json_safe(details)
    return detection


def extract_metadata(path: Path, detection: Detection, limits: Limits) -> dict[str, Any]:
    """Normalised metadata (ARCHITECTURE.md keys) plus detail under the family name.

    ``language`` here is what the document declares; the content stage, which
    has the text anyway, detects the real one. The result is JSON-serialisable
    and free of NUL characters.
    """
    path = path if isinstance(path, Path) else Path(path)
    family = REGISTRY.get(detection.family)
    meta = _guarded(f"{family.name}.extract_metadata", family.extract_metadata, path, limits, detection)
    declared = meta.get("language") or _declared_language(meta, detection.family)
    # The content stage replaces this with the language of the text itself.
    meta["language"] = declared
    if meta["language"] is None:
        del meta["language"]
    meta.setdefault("encrypted", False)
    # Clients find format detail under the family name (MSG shares "email" with EML).
    meta.setdefault("email" if detection.family == "msg" else detection.family, {})
    return json_safe(meta)


def _declared_language(meta: dict[str, Any], family: str) -> str | None:
    detail = meta.get(family) or {}
    for key in ("lang", "declared_language", "language"):
        value = detail.get(key) if isinstance(detail, dict) else None
        if value:
            return str(value).split("-")[0].split("_")[0].lower()[:3] or None
    return None


def extract_pages(path: Path, detection: Detection, limits: Limits) -> list[Page]:
    """Text per page in reading order, NUL-free, capped at ``limits.max_text_chars``."""
    path = path if isinstance(path, Path) else Path(path)
    family = REGISTRY.get(detection.family)
    pages = _guarded(f"{family.name}.extract_pages", family.extract_pages, path, limits, detection)
    if len(pages) > limits.max_pages:
        raise DocumentError(
            ErrorCode.TOO_MANY_PAGES, f"The document has {len(pages)} pages; the limit is {limits.max_pages}."
        )
    for page in pages:
        page.text = clean_text(page.text)
    return cap_pages_text(pages, limits.max_text_chars)


def needs_password(path: Path) -> bool:
    """Whether ``path`` is a PDF that cannot be opened without a password.

    An upload's ``password`` is meant for such files only: the other files sent with
    it (a ``.txt``, an unencrypted PDF) are taken as they are, not "decrypted" into
    an error. A file we cannot tell is left to the validate stage to judge.
    """
    from aegis.formats import pdf

    path = path if isinstance(path, Path) else Path(path)
    try:
        return sniff(path).kind == "pdf" and pdf.needs_password(path)
    except (DocumentError, OSError):  # unreadable here means "not for the password"; validate says why
        return False


def decrypt_pdf(src: Path, dst: Path, password: str) -> None:
    """Write an unencrypted copy of an encrypted PDF, so the password need not be kept.

    Raises ``DocumentError(ErrorCode.WRONG_PASSWORD)`` if the password does not open it.
    """
    from aegis.formats import pdf

    _guarded("pdf.decrypt", pdf.decrypt, Path(src), Path(dst), password)
