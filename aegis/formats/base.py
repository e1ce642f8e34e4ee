"""The contract every format module follows, and the errors they raise.

A format module turns a file on disk into normalised metadata and a list of pages
of text. It never sees Celery, Flask or the database, so it can be tested (and
fuzzed) in isolation, and the stages stay thin.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aegis.vocabulary import ErrorCode, ErrorKind, info


@dataclass(frozen=True)
class Limits:
    """Caps applied while parsing untrusted files."""

    max_pages: int = 5000
    max_bytes: int = 100 * 1024 * 1024
    max_text_chars: int = 20_000_000
    # Zip containers (DOCX, XLSX, PPTX, ODF, EPUB): checked before any parser opens them.
    max_zip_entries: int = 10_000
    max_zip_uncompressed: int = 500 * 1024 * 1024
    max_zip_ratio: int = 200


@dataclass
class Page:
    """One unit of text: a PDF page, a slide, a sheet, or the whole of a text file."""

    number: int
    text: str


@dataclass
class Detection:
    """What a file really is, decided by its bytes, not its name."""

    mime: str
    family: str  # a FormatFamily.name in aegis.formats.registry: "pdf", "text", "html", "docx", ...
    extension: str  # normalised extension from the client's filename, "" if none
    details: dict[str, Any] = field(default_factory=dict)
    # The container detection opened (aegis.formats.detect.Sniffed.container), lent to the
    # family's check, so a package's directory is parsed once; PPTX and XLSX keep it for
    # extraction from the same Detection (never stored: a stage rebuilding a Detection has none).
    container: Any = field(default=None, repr=False, compare=False)


class DocumentError(Exception):
    """A file we will not or cannot process.

    ``code`` is stable (clients switch on it) and must be declared in
    :mod:`aegis.vocabulary`; ``message`` is a sentence for people, the vocabulary's
    when the raise site has nothing more specific to say. ``rejected`` says whether
    the file is at fault (status ``rejected``) or we are (status ``failed``); it
    follows the code's kind unless a raise site knows better.
    """

    def __init__(self, code: ErrorCode | str, message: str | None = None, *, rejected: bool | None = None) -> None:
        declared = info(code)  # a code nobody declared fails here, loudly
        super().__init__(message or declared.message)
        self.code = declared.code
        self.message = message or declared.message
        self.rejected = declared.kind is ErrorKind.REJECTED if rejected is None else rejected


@dataclass(frozen=True)
class FileType:
    """A file extension clients use and the MIME type of the format it names."""

    extension: str  # lower case, no dot
    mime: str


class FormatFamily(ABC):
    """One family of formats: which files it claims and how it reads them.

    Each family module defines one instance, ``FAMILY`` (usually a
    :class:`ModuleFamily`), and :mod:`aegis.formats.registry` lists them. Detection derives its extension
    and MIME tables from ``types``, so a new format is a module and a registry
    line, not edits scattered over detection and dispatch.
    """

    name: str  # what Detection.family records
    types: tuple[FileType, ...]
    # Textual families all sniff as "text"; only the extension tells them apart.
    textual: bool = False

    @property
    def extensions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.extension for t in self.types))

    @property
    def mimes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.mime for t in self.types))

    @abstractmethod
    def check(self, path: Path, limits: Limits, detection: Detection) -> dict[str, Any]:
        """Refuse what cannot be read safely; the result becomes ``Detection.details``."""

    @abstractmethod
    def extract_metadata(self, path: Path, limits: Limits, detection: Detection) -> dict[str, Any]:
        """Normalised metadata (see ARCHITECTURE.md) plus ``{family: {...}}`` detail."""

    @abstractmethod
    def extract_pages(self, path: Path, limits: Limits, detection: Detection) -> list[Page]:
        """Text per page, in reading order."""


class ModuleFamily(FormatFamily):
    """A family read by its module's ``check``, ``extract_metadata`` and ``extract_pages``.

    The functions are looked up when called, not when the family is built, so a
    test can patch a module function and dispatch sees it.
    """

    def __init__(self, name: str, types: tuple[FileType, ...], module: str, *, textual: bool = False) -> None:
        self.name = name
        self.types = types
        self.textual = textual
        self._module = module

    def _reader(self, attribute: str) -> Callable[..., Any]:
        return cast(Callable[..., Any], getattr(sys.modules[self._module], attribute))

    def check(self, path: Path, limits: Limits, detection: Detection) -> dict[str, Any]:
        return cast(dict[str, Any], self._reader("check")(path, limits, detection=detection))

    def extract_metadata(self, path: Path, limits: Limits, detection: Detection) -> dict[str, Any]:
        return cast(dict[str, Any], self._reader("extract_metadata")(path, limits, detection=detection))

    def extract_pages(self, path: Path, limits: Limits, detection: Detection) -> list[Page]:
        return cast(list[Page], self._reader("extract_pages")(path, limits, detection=detection))
