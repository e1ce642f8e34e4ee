"""Issue 10, item 1: a scan that OCR does not read says so, and the AI invents nothing.

Before: a scanned PDF "succeeded" with empty text, no warning, "No summary." and
"other (100% sure)". Now the pages without text are a ``no_text_layer`` warning
and the analysis is explicitly empty (no classification, no confidence).
The stages run in process through the runner, on SQLite under ``tmp_path``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from pypdf import PdfReader, PdfWriter

from aegis.ai.classify import classify
from aegis.config import Settings, load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Document
from aegis.pipeline.runner import Outcome, execute
from aegis.vocabulary import ErrorCode
from tests.corpus import CORPUS
from tests.unit.pipeline_helpers import stored_document

TEXT_PDF = (CORPUS if CORPUS.is_dir() else Path("/work/shared/corpus")) / "pdf" / "DA-1p.pdf"
STAGES = ("validate", "metadata", "content", "ocr", "ai")


def _settings(tmp_path: Path, **env: str) -> Settings:
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), **env})
    migrate.upgrade(s)
    return s


@pytest.fixture()
def ocr_off(tmp_path: Path) -> Iterator[Settings]:
    yield _settings(tmp_path, AEGIS_OCR="off")
    dispose_engines()


@pytest.fixture()
def ocr_auto(tmp_path: Path) -> Iterator[Settings]:
    yield _settings(tmp_path)
    dispose_engines()


def _scan_pdf() -> bytes:
    """One page that is only a picture (a drawing, no text layer), as a scanner makes."""
    image = Image.new("L", (850, 1100), 255)
    draw = ImageDraw.Draw(image)
    for y in range(100, 1000, 40):
        draw.rectangle((80, y, 770, y + 12), fill=0)
    out = io.BytesIO()
    image.save(out, "PDF", resolution=100)
    return out.getvalue()


def _text_then_blank_pdf() -> bytes:
    writer = PdfWriter()
    writer.append(PdfReader(TEXT_PDF))
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _process(settings: Settings, data: bytes, name: str) -> dict[str, Any]:
    doc_id, token = stored_document(settings, data, name)
    for stage in STAGES:
        outcome = execute(settings, stage, doc_id, token, task_id="t1", worker="w:1")
        assert outcome is Outcome.SUCCEEDED, (stage, outcome)
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        return {"status": doc.status, "ai": doc.ai, "warnings": doc.warnings or []}


def test_a_scan_with_ocr_off_gets_a_warning_and_no_invented_classification(ocr_off: Settings) -> None:
    doc = _process(ocr_off, _scan_pdf(), "scan.pdf")
    assert doc["status"] == "succeeded"
    [warning] = [w for w in doc["warnings"] if w["code"] == ErrorCode.NO_TEXT_LAYER]
    assert warning["pages"] == [1]
    assert "OCR is off" in warning["message"]
    ai = doc["ai"]
    assert ai["classification"] is None, "no 'other (100% sure)' for a page of nothing"
    assert ai["summary"] == "" and ai["keywords"] == [] and ai["empty_text"] is True


def test_with_ocr_off_only_the_pages_without_text_are_named(ocr_off: Settings) -> None:
    doc = _process(ocr_off, _text_then_blank_pdf(), "mixed.pdf")
    [warning] = [w for w in doc["warnings"] if w["code"] == ErrorCode.NO_TEXT_LAYER]
    assert warning["pages"] == [2]
    assert doc["ai"]["summary"] and doc["ai"].get("empty_text") is None


def test_with_ocr_on_a_blank_page_of_a_text_document_is_no_warning(ocr_auto: Settings) -> None:
    doc = _process(ocr_auto, _text_then_blank_pdf(), "mixed.pdf")
    assert doc["status"] == "succeeded"
    assert [w for w in doc["warnings"] if w["code"] == ErrorCode.NO_TEXT_LAYER] == []


def test_a_text_file_is_never_warned_about_a_text_layer(ocr_off: Settings) -> None:
    doc = _process(ocr_off, b"Plain words about invoices and payments.\n" * 5, "note.txt")
    assert doc["warnings"] == []


@pytest.mark.parametrize("text", ["", "   \n\t ", "\u00ad\n"])
def test_the_local_classifier_claims_nothing_for_empty_text(text: str) -> None:
    assert classify(text, ["invoice", "other"]) is None
