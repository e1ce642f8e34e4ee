"""OCR without Celery or a database: plan pages, render them, read them with Tesseract.

The ``ocr`` stage wires these together: :func:`pages_to_ocr` decides which pages
need it, :func:`split_batches` cuts them into tasks, and each task calls
:func:`ocr_batch`. Everything here works on a local file path and is safe to
call in a prefork worker child.
"""

from aegis.ocr.batches import PageOcr, ocr_batch, split_batches
from aegis.ocr.engine import OcrText, check_languages, installed_languages, recognise, tesseract_version
from aegis.ocr.errors import OcrEngineMissing, OcrError, OcrLanguageMissing, OcrPageError, OcrPageTimeout
from aegis.ocr.plan import PageDecision, pages_to_ocr, plan_pages
from aegis.ocr.render import Kind, RenderedPage, open_pages, render_page
from aegis.ocr.settings import OcrSettings, OcrSettingsError

__all__ = [
    "Kind",
    "OcrEngineMissing",
    "OcrError",
    "OcrLanguageMissing",
    "OcrPageError",
    "OcrPageTimeout",
    "OcrSettings",
    "OcrSettingsError",
    "OcrText",
    "PageDecision",
    "PageOcr",
    "RenderedPage",
    "check_languages",
    "installed_languages",
    "ocr_batch",
    "open_pages",
    "pages_to_ocr",
    "plan_pages",
    "recognise",
    "render_page",
    "split_batches",
    "tesseract_version",
]
