"""Scans and photos through the real gateway, Redis, PostgreSQL and Celery workers.

Scans are made at test time from born-digital corpus PDFs (tests/scans.py); the
original text layer is the truth OCR's words are measured against.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tests.harness import CORPUS, ApiClient
from tests.scans import recall, save_scan_pdf, scan_pages, text_layer

pytestmark = pytest.mark.integration


def _image_bytes(pdf: Path, page: int, fmt: str) -> bytes:
    (image,) = scan_pages(pdf, [page])
    buffer = io.BytesIO()
    image.save(buffer, fmt, dpi=(200, 200), quality=90)
    return buffer.getvalue()


def _text(api: ApiClient, doc_id: str) -> tuple[str, list[dict]]:
    pages = api.get(f"/v1/documents/{doc_id}/content").json()["pages"]
    return "\n".join(p["text"] for p in pages), pages


def test_a_scanned_pdf_a_png_and_a_jpeg_are_read_with_95_percent_word_recall(
    api: ApiClient, tmp_path: Path
) -> None:
    latex = CORPUS / "pdf" / "pdflatex-4-pages.pdf"
    columns = CORPUS / "pdf" / "multicolumn.pdf"
    gdoc = CORPUS / "pdf" / "google-doc-document.pdf"
    scan = save_scan_pdf(tmp_path / "scan.pdf", scan_pages(latex, [1, 2]))
    uploads = {
        "scan.pdf": (api.upload(scan), text_layer(latex, [1, 2])),
        "page.png": (api.upload_bytes("page.png", _image_bytes(columns, 1, "PNG")), text_layer(columns, [1])),
        "photo.jpg": (api.upload_bytes("photo.jpg", _image_bytes(gdoc, 1, "JPEG")), text_layer(gdoc, [1])),
    }
    for name, (response, truth) in uploads.items():
        assert response.status_code == 202, (name, response.text)
        doc = api.wait(response.json()["id"], timeout=180)
        assert doc["status"] == "succeeded", (name, doc)
        ocr_run = doc["stages"]["ocr"]
        assert ocr_run["status"] == "succeeded", (name, ocr_run)
        assert ocr_run["pages_total"] == ocr_run["pages_done"] == doc["metadata"]["pages"], (name, ocr_run)
        assert doc["metadata"]["ocr"]["pages"] == doc["metadata"]["pages"]
        assert doc["metadata"]["ocr"]["engine"].startswith("tesseract 5")
        assert doc["warnings"] == []
        text, pages = _text(api, doc["id"])
        assert all(p["ocr"] is True and 0 < p["ocr_confidence"] <= 100 for p in pages), (name, pages)
        assert recall(truth, text) >= 0.95, (name, recall(truth, text))
        assert doc["ai"]["chunks"] >= 1 and doc["ai"]["summary"]
    png = api.document(uploads["page.png"][0].json()["id"])
    assert png["mime"] == "image/png"
    assert png["metadata"]["image"]["width"] > 1000
    hits = api.get("/v1/search?q=columns&k=3").json()["results"]
    assert hits, "OCR text is searchable"


@pytest.mark.parametrize("name", ["DA-619p.pdf", "fr_olap.pdf", "multicolumn.pdf"])
def test_born_digital_pdfs_end_with_no_ocr_pages(api: ApiClient, name: str) -> None:
    response = api.upload(CORPUS / "pdf" / name)
    doc = api.wait(response.json()["id"], timeout=300)
    assert doc["status"] == "succeeded", doc
    assert doc["stages"]["ocr"]["status"] == "skipped"
    assert doc["metadata"]["ocr"] == {"pages": 0}
    _text_, pages = _text(api, doc["id"])
    assert not any(p["ocr"] for p in pages)


def _hostile_images(tmp_path: Path) -> dict[str, tuple[bytes, tuple[str, ...]]]:
    """name -> (bytes, acceptable (status, code) outcomes)."""
    from PIL import Image

    from tests.ocr_samples import png_bomb, text_page

    frames = tmp_path / "frames.tiff"
    tiny = Image.new("L", (2, 2), 255)
    tiny.save(frames, "TIFF", save_all=True, append_images=[tiny] * 5100)
    jpeg = io.BytesIO()
    text_page().save(jpeg, "JPEG", quality=85)
    gif = io.BytesIO()
    first = text_page(size=(600, 400), font_size=40)
    flicker = [Image.new("L", (600, 400), 100 + 50 * (i % 2)) for i in range(300)]
    first.save(gif, "GIF", save_all=True, append_images=flicker, duration=20)
    huge = io.BytesIO()
    # 1,000 px at 1 DPI: a MediaBox of 72,000 pt a side, far over the pixel cap at 300 DPI.
    text_page(size=(1000, 1000), font_size=60).save(huge, "PDF", resolution=1)
    return {
        "bomb.png": (png_bomb(tmp_path / "bomb.png").read_bytes(), ("rejected:zip_bomb",)),
        "frames.tiff": (frames.read_bytes(), ("rejected:too_many_pages",)),
        "truncated.jpg": (jpeg.getvalue()[: len(jpeg.getvalue()) // 3], ("rejected:malformed", "succeeded:")),
        "page.png": (b"<!doctype html><html><body>not an image</body></html>", ("rejected:type_mismatch",)),
        "animated.gif": (gif.getvalue(), ("succeeded:",)),
        "huge-page.pdf": (huge.getvalue(), ("succeeded:",)),
    }


def test_hostile_images_end_with_precise_codes_and_a_scan_still_succeeds_after(
    api: ApiClient, tmp_path: Path
) -> None:
    for name, (data, expected) in _hostile_images(tmp_path).items():
        response = api.upload_bytes(name, data)
        assert response.status_code == 202, (name, response.text)
        doc = api.wait(response.json()["id"], timeout=180)
        outcome = f"{doc['status']}:{(doc['error'] or {}).get('code', '')}"
        assert outcome in expected, (name, outcome, doc["error"])
        if name == "animated.gif":
            assert doc["metadata"]["pages"] == 1 and doc["metadata"]["image"]["frames"] == 301
    # The same workers still read a normal scan.
    gdoc = CORPUS / "pdf" / "google-doc-document.pdf"
    response = api.upload_bytes("after.png", _image_bytes(gdoc, 1, "PNG"))
    doc = api.wait(response.json()["id"], timeout=120)
    assert doc["status"] == "succeeded", doc
    assert recall(text_layer(gdoc, [1]), _text(api, doc["id"])[0]) >= 0.95


def test_the_upload_chooses_ocr_always_or_off(api: ApiClient, tmp_path: Path) -> None:
    digital = CORPUS / "pdf" / "minimal-document.pdf"
    forced = api.wait(api.upload(digital, ocr="always").json()["id"], timeout=120)
    assert forced["status"] == "succeeded", forced
    assert forced["stages"]["ocr"]["status"] == "succeeded"
    assert forced["metadata"]["ocr"]["pages"] == forced["metadata"]["pages"]
    scan = save_scan_pdf(tmp_path / "off.pdf", scan_pages(CORPUS / "pdf" / "DA-1p.pdf", [1]))
    skipped = api.wait(api.upload(scan, ocr="off").json()["id"], timeout=120)
    assert skipped["status"] == "succeeded", skipped
    assert skipped["stages"]["ocr"]["status"] == "skipped"


def test_a_scan_downloads_as_a_searchable_pdf_and_a_text_pdf_has_none(api: ApiClient, tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    # Two pages of about 100 and 170 words: OCR time grows with the words on a page, and two
    # full LaTeX pages (710 words each) made this the slowest OCR test for the same checks.
    sources = [CORPUS / "pdf" / "minimal-document.pdf", CORPUS / "pdf" / "crazyones-pdfa.pdf"]
    scan = save_scan_pdf(tmp_path / "archive.pdf", [page for source in sources for page in scan_pages(source, [1])])
    doc = api.wait(api.upload(scan).json()["id"], timeout=180)
    response = api.get(f"/v1/documents/{doc['id']}/searchable.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/pdf"
    out = tmp_path / "searchable.pdf"
    out.write_bytes(response.content)
    pdf = pdfium.PdfDocument(out)
    try:
        assert len(pdf) == 2
        text = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(2))
    finally:
        pdf.close()
    assert recall("\n".join(text_layer(source, [1]) for source in sources), text) >= 0.9
    photo = api.upload_bytes("photo.png", _image_bytes(CORPUS / "pdf" / "google-doc-document.pdf", 1, "PNG"))
    photo_doc = api.wait(photo.json()["id"], timeout=120)
    assert api.get(f"/v1/documents/{photo_doc['id']}/searchable.pdf").status_code == 200
    digital = api.wait(api.upload(CORPUS / "pdf" / "minimal-document.pdf").json()["id"], timeout=120)
    missing = api.get(f"/v1/documents/{digital['id']}/searchable.pdf")
    assert missing.status_code == 404 and missing.json()["code"] == "no_searchable_pdf"
