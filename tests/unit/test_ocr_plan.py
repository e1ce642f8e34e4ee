"""Which pages need OCR: text layers are trusted, scans and images are read."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aegis.formats.base import DocumentError
from aegis.ocr.plan import decide_pdf_page, pages_to_ocr, plan_pages, real_chars
from aegis.ocr.settings import OcrSettings
from tests.corpus import CORPUS
from tests.ocr_samples import join_pdfs, save_image_pdf, save_text_pdf, text_page

SETTINGS = OcrSettings()
CORPUS_PDF = CORPUS / "pdf"


@pytest.fixture
def text_pdf(tmp_path: Path) -> Path:
    lines = ["Born digital text with a real text layer on every page", "and enough letters to count as text"]
    return save_text_pdf(tmp_path / "text.pdf", [lines, lines, lines])


@pytest.fixture
def scan_pdf(tmp_path: Path) -> Path:
    return save_image_pdf(tmp_path / "scan.pdf", [text_page(), text_page(), text_page()])


def test_text_pdf_plans_no_ocr(text_pdf: Path) -> None:
    decisions = plan_pages(text_pdf, "pdf", SETTINGS)
    assert [d.reason for d in decisions] == ["text"] * 3
    assert pages_to_ocr(text_pdf, "pdf", SETTINGS) == []


def test_image_only_pdf_plans_every_page(scan_pdf: Path) -> None:
    assert pages_to_ocr(scan_pdf, "pdf", SETTINGS) == [1, 2, 3]
    assert {d.reason for d in plan_pages(scan_pdf, "pdf", SETTINGS)} == {"image"}


def test_mixed_pdf_plans_only_its_scanned_pages(tmp_path: Path, text_pdf: Path, scan_pdf: Path) -> None:
    mixed = join_pdfs(tmp_path / "mixed.pdf", [text_pdf, scan_pdf])
    assert pages_to_ocr(mixed, "pdf", SETTINGS) == [4, 5, 6]


def test_modes_off_and_always(text_pdf: Path, scan_pdf: Path) -> None:
    assert pages_to_ocr(scan_pdf, "pdf", OcrSettings(mode="off")) == []
    assert pages_to_ocr(text_pdf, "pdf", OcrSettings(mode="always")) == [1, 2, 3]


def test_page_cap_is_enforced(scan_pdf: Path) -> None:
    with pytest.raises(DocumentError) as info:
        plan_pages(scan_pdf, "pdf", SETTINGS, max_pages=2)
    assert info.value.code == "too_many_pages"


def test_real_chars_ignore_private_use_replacement_and_punctuation() -> None:
    assert real_chars("Hello 42") == 7
    assert real_chars("\ue000\ue001\ufffd\x03 ....... -- ") == 0
    assert real_chars("Ärger naïve 東京") == 12


@pytest.mark.parametrize(
    ("text", "images", "drawings", "texts", "needs", "reason"),
    [
        ("A full page of real words, well over the threshold", 1, 0, 5, False, "text"),
        ("p. 3", 1, 0, 1, True, "image"),  # a scan with a stray page number
        ("", 0, 40, 0, True, "no_text"),  # text drawn as vector outlines
        ("\ue000\ue001\ue002", 0, 0, 3, True, "no_text"),  # glyphs without a Unicode map
        ("", 0, 0, 0, False, "blank"),
        ("Page 7", 0, 12, 1, False, "sparse_text"),  # a chart with a page number
    ],
)
def test_skip_text_rule(text: str, images: int, drawings: int, texts: int, needs: bool, reason: str) -> None:
    decision = decide_pdf_page(1, text, images, drawings, texts, SETTINGS.min_text_chars)
    assert (decision.needs_ocr, decision.reason) == (needs, reason)


def test_every_frame_of_a_tiff_and_the_first_of_a_gif(tmp_path: Path) -> None:
    frames = [text_page((400, 300)) for _ in range(3)]
    frames[0].save(tmp_path / "scan.tif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "one.png")
    assert pages_to_ocr(tmp_path / "scan.tif", "image", SETTINGS) == [1, 2, 3]
    assert pages_to_ocr(tmp_path / "anim.gif", "image", SETTINGS) == [1]
    assert pages_to_ocr(tmp_path / "one.png", "image", SETTINGS) == [1]
    assert pages_to_ocr(tmp_path / "one.png", "image", OcrSettings(mode="off")) == []


def test_planning_a_large_scan_does_not_decode_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages are inspected, not rendered: no page is rendered and no image decoded while planning
    60 full-page scans (checked by what PDFium is asked to do, not by a clock)."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    page = Image.new("L", (1240, 1754), 255)
    scan = save_image_pdf(tmp_path / "long.pdf", [page] * 60)
    decoded: list[str] = []

    def spy(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def recorded(*args: object, **kwargs: object) -> object:
            decoded.append(name)  # recorded, not raised: the planner would swallow an error
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)

    spy(pypdfium2.PdfPage, "render")
    for name in ("get_bitmap", "get_data", "extract"):
        spy(pypdfium2.PdfImage, name)
    for name in ("FPDF_RenderPageBitmap", "FPDFImageObj_GetBitmap", "FPDFImageObj_GetRenderedBitmap",
                 "FPDFImageObj_GetImageDataDecoded"):
        spy(pdfium_c, name)
    assert len(pages_to_ocr(scan, "pdf", SETTINGS)) == 60
    assert decoded == []


@pytest.mark.parametrize("name", ["DA-619p.pdf", "fr_olap.pdf", "multicolumn.pdf", "pdf-with-ocr-text.pdf"])
def test_corpus_pdfs_with_text_layers_need_no_ocr(name: str) -> None:
    path = CORPUS_PDF / name
    if not path.exists():
        pytest.skip(f"corpus file {name} missing")
    assert pages_to_ocr(path, "pdf", SETTINGS) == []


@pytest.mark.parametrize(("name", "pages"), [("imagemagick-images.pdf", 6), ("grayscale-image.pdf", 1)])
def test_corpus_image_pdfs_need_ocr_everywhere(name: str, pages: int) -> None:
    path = CORPUS_PDF / name
    if not path.exists():
        pytest.skip(f"corpus file {name} missing")
    assert pages_to_ocr(path, "pdf", SETTINGS) == list(range(1, pages + 1))


def test_encrypted_pdf_gets_its_code() -> None:
    path = CORPUS_PDF / "password.pdf"
    if not path.exists():
        pytest.skip("corpus file password.pdf missing")
    with pytest.raises(DocumentError) as info:
        plan_pages(path, "pdf", SETTINGS)
    assert info.value.code == "encrypted"


def test_known_text_layer_settles_pages_without_reading_them_again(scan_pdf: Path) -> None:
    # The content stage's text for these scan pages says "plenty of text": the
    # planner trusts it instead of loading the pages, so no page is OCR'd.
    known = {n: "Already extracted text with plenty of letters in it" for n in (1, 2, 3)}
    decisions = plan_pages(scan_pdf, "pdf", SETTINGS, known_text=known)
    assert [(d.needs_ocr, d.reason) for d in decisions] == [(False, "text")] * 3


def test_short_or_missing_known_text_falls_back_to_inspecting_the_page(scan_pdf: Path, text_pdf: Path) -> None:
    # Too little known text (or none) is no verdict: the page itself decides, as without known text.
    assert pages_to_ocr(scan_pdf, "pdf", SETTINGS, known_text={1: "p. 1", 2: ""}) == [1, 2, 3]
    assert plan_pages(text_pdf, "pdf", SETTINGS, known_text={}) == plan_pages(text_pdf, "pdf", SETTINGS)


def test_known_text_from_the_content_stage_gives_the_same_plan_on_corpus_pdfs() -> None:
    from aegis import formats
    from aegis.formats.base import Limits

    for name in ("DA-1p.pdf", "pdf-with-ocr-text.pdf", "imagemagick-CCITTFaxDecode.pdf", "multi-column-2p.pdf"):
        path = CORPUS_PDF / name
        detection = formats.validate(path, name, Limits())
        known = {p.number: p.text for p in formats.extract_pages(path, detection, Limits())}
        assert plan_pages(path, "pdf", SETTINGS, known_text=known) == plan_pages(path, "pdf", SETTINGS), name
