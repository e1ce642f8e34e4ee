"""What can go wrong in OCR, split by who has to act on it.

A page error (:class:`OcrPageError`, :class:`OcrPageTimeout`) is about one page
of one document: the batch records its code and carries on with the next page.
An engine error (:class:`OcrEngineMissing`, :class:`OcrLanguageMissing`) is about
the worker: every page would fail the same way, so it propagates and the task
fails loudly instead of marking a whole scan "unreadable".
"""

from __future__ import annotations

from aegis.vocabulary import ErrorCode


class OcrError(Exception):
    """Base class; ``code`` is stable, ``message`` is for people."""

    code: ErrorCode = ErrorCode.OCR_FAILED

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class OcrEngineMissing(OcrError):
    """The worker has no usable ``tesseract`` binary: an installation problem, not a document one."""

    code = ErrorCode.OCR_ENGINE_MISSING


class OcrLanguageMissing(OcrError):
    """A requested language has no traineddata installed on this worker."""

    code = ErrorCode.OCR_LANGUAGE_MISSING

    def __init__(self, message: str, *, languages: list[str]) -> None:
        super().__init__(message)
        self.languages = languages


class OcrPageError(OcrError):
    """One page could not be rendered or recognised; the others still can."""

    code = ErrorCode.OCR_PAGE_UNREADABLE


class OcrPageTimeout(OcrPageError):
    """Tesseract took longer than ``AEGIS_OCR_PAGE_TIMEOUT`` on one page and was killed."""

    code = ErrorCode.OCR_TIMEOUT
