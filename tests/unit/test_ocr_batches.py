"""Batches: pure splitting, and page-by-page OCR where one bad page sinks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.formats.base import DocumentError
from aegis.ocr.batches import ocr_batch, split_batches
from aegis.ocr.errors import OcrEngineMissing
from aegis.ocr.settings import OcrSettings
from tests.ocr_samples import save_image_pdf, text_page, tiff_with_corrupt_frame

SETTINGS = OcrSettings()


@pytest.mark.parametrize(
    ("pages", "size", "expected"),
    [
        ([], 4, []),
        ([1, 2, 3], 4, [[1, 2, 3]]),
        ([1, 2, 3, 4], 4, [[1, 2, 3, 4]]),
        (list(range(1, 11)), 4, [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]),
        ([2, 5, 9], 1, [[2], [5], [9]]),
    ],
)
def test_split_batches(pages: list[int], size: int, expected: list[list[int]]) -> None:
    assert split_batches(pages, size) == expected


def test_split_batches_covers_every_page_once() -> None:
    pages = list(range(1, 301))
    batches = split_batches(pages, 7)
    assert [n for batch in batches for n in batch] == pages
    assert all(1 <= len(batch) <= 7 for batch in batches)


def test_split_batches_refuses_zero() -> None:
    with pytest.raises(ValueError):
        split_batches([1], 0)


def test_batch_of_a_scanned_pdf(tmp_path: Path) -> None:
    scan = save_image_pdf(tmp_path / "scan.pdf", [text_page(), text_page(lines=("Second page here",))], dpi=150)
    results = ocr_batch(scan, "pdf", [1, 2], SETTINGS)
    assert [r.number for r in results] == [1, 2]
    assert all(r.ok for r in results)
    assert "northwind" in results[0].text.lower() and "second page" in results[1].text.lower()
    assert results[0].dpi == 300 and results[0].confidence is not None


def test_one_corrupt_frame_fails_alone(tmp_path: Path) -> None:
    tiff = tiff_with_corrupt_frame(tmp_path / "scan.tif", [text_page(), text_page(), text_page()], corrupt=2)
    results = ocr_batch(tiff, "image", [1, 2, 3], SETTINGS)
    assert [(r.number, r.error) for r in results] == [(1, None), (2, "ocr_page_unreadable"), (3, None)]
    assert results[1].text == "" and results[1].message
    assert "invoice" in results[0].text.lower() and "invoice" in results[2].text.lower()


def test_a_timed_out_page_is_recorded_and_the_batch_goes_on(tmp_path: Path) -> None:
    scan = save_image_pdf(tmp_path / "scan.pdf", [text_page()], dpi=150)
    results = ocr_batch(scan, "pdf", [1, 2], OcrSettings(page_timeout=0.05))
    assert [(r.number, r.error) for r in results] == [(1, "ocr_timeout"), (2, "ocr_page_missing")]


def test_missing_engine_fails_the_whole_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aegis.ocr import engine

    monkeypatch.setattr(engine, "TESSERACT", "/nonexistent/tesseract")
    monkeypatch.setattr(engine, "check_languages", lambda languages: None)
    scan = save_image_pdf(tmp_path / "scan.pdf", [text_page((300, 300))])
    with pytest.raises(OcrEngineMissing):
        ocr_batch(scan, "pdf", [1], SETTINGS)


def test_unopenable_file_is_a_document_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\nnothing else")
    with pytest.raises(DocumentError):
        ocr_batch(broken, "pdf", [1], SETTINGS)
