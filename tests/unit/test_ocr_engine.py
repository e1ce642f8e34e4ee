"""Tesseract as a subprocess: words and confidence, timeouts, and clear installation errors."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from aegis.ocr import engine
from aegis.ocr.engine import check_languages, parse_tsv, recognise, recognise_bytes, tesseract_version
from aegis.ocr.errors import OcrEngineMissing, OcrLanguageMissing, OcrPageError, OcrPageTimeout
from aegis.ocr.render import render_page
from aegis.ocr.settings import OcrSettings
from tests.corpus import CORPUS
from tests.ocr_samples import WORDS, save_image_pdf, text_page

SETTINGS = OcrSettings()


def test_reads_the_words_drawn_on_a_rendered_page(tmp_path: Path) -> None:
    scan = save_image_pdf(tmp_path / "scan.pdf", [text_page()], dpi=150)
    page = render_page(scan, "pdf", 1, SETTINGS)
    result = recognise(page.image, SETTINGS, dpi=page.dpi)
    text = result.text.lower()
    assert all(word in text for word in WORDS), result.text
    assert result.confidence is not None and result.confidence > 80
    assert result.words >= 12


@pytest.mark.parametrize("angle", [90, 180, 270])
def test_reads_a_page_scanned_sideways_or_upside_down(angle: int) -> None:
    page = text_page().rotate(angle, expand=True)
    text = recognise(page, SETTINGS, dpi=150).text.lower()
    assert sum(word in text for word in WORDS) >= len(WORDS) - 1, (angle, text)


def test_reads_a_real_scan_from_the_corpus() -> None:
    """The corpus's typewritten 1950s letter: Tesseract reads words its old OCR layer garbled."""
    path = CORPUS / "pdf" / "pdf-with-ocr-text.pdf"
    if not path.exists():
        pytest.skip("corpus file pdf-with-ocr-text.pdf missing")
    page = render_page(path, "pdf", 1, SETTINGS)
    text = recognise(page.image, SETTINGS, dpi=page.dpi).text.lower()
    assert "progress" in text and "interested" in text and "received" in text


def test_blank_page_has_no_words_and_no_confidence() -> None:
    from PIL import Image

    result = recognise(Image.new("L", (400, 400), 255), SETTINGS)
    assert result.text == "" and result.confidence is None and result.words == 0


def test_timeout_kills_tesseract_and_raises() -> None:
    image = text_page((2480, 3508))
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(OcrPageTimeout) as info:
        recognise(image, OcrSettings(page_timeout=0.05), dpi=300)
    assert info.value.code == "ocr_timeout"
    leftover = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert [p for p in leftover if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []


def test_bad_image_bytes_are_a_page_error() -> None:
    with pytest.raises(OcrPageError) as info:
        recognise_bytes(b"this is not an image at all", SETTINGS)
    assert info.value.code == "ocr_page_unreadable"
    assert not isinstance(info.value, OcrPageTimeout)


def test_missing_tesseract_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "TESSERACT", "/nonexistent/tesseract")
    monkeypatch.setattr(engine, "check_languages", lambda languages: None)
    with pytest.raises(OcrEngineMissing, match="tesseract-ocr"):
        recognise(text_page((100, 100)), SETTINGS)


def test_missing_language_names_the_package() -> None:
    with pytest.raises(OcrLanguageMissing, match="tesseract-ocr-xyz") as info:
        check_languages("eng+xyz")
    assert info.value.languages == ["xyz"]
    check_languages("eng")


def test_tesseract_runs_single_threaded() -> None:
    assert engine._environment()["OMP_THREAD_LIMIT"] == "1"


def test_version_is_tesseract_5() -> None:
    assert tesseract_version().startswith("tesseract 5")


def test_parse_tsv_rebuilds_lines_and_paragraphs() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t100\t100\t-1\t",
        "5\t1\t1\t1\t1\t1\t0\t0\t10\t10\t90\tHello",
        "5\t1\t1\t1\t1\t2\t0\t0\t10\t10\t80\tworld",
        "5\t1\t1\t1\t2\t1\t0\t0\t10\t10\t70\tagain",
        "5\t1\t2\t1\t1\t1\t0\t0\t10\t10\t60\tNext",
        "5\t1\t2\t1\t1\t2\t0\t0\t10\t10\t-1\t ",
    ]
    result = parse_tsv("\n".join([header, *rows]))
    assert result.text == "Hello world\nagain\n\nNext"
    assert result.confidence == 75.0 and result.words == 4
