"""Rendering: one grayscale page at the configured DPI, under the pixel cap, upright."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aegis.formats.base import DocumentError
from aegis.ocr.errors import OcrPageError
from aegis.ocr.render import fit_scale, open_pages, render_page
from aegis.ocr.settings import OcrSettings
from tests.ocr_samples import A4_300, blank_pdf, png_bomb, save_image_pdf, save_text_pdf, text_page

SETTINGS = OcrSettings()


def test_a4_pdf_page_renders_at_300_dpi_in_grayscale(tmp_path: Path) -> None:
    pdf = save_text_pdf(tmp_path / "a4.pdf", [["Hello"]])
    page = render_page(pdf, "pdf", 1, SETTINGS)
    assert page.image.mode == "L"
    assert abs(page.image.width - A4_300[0]) <= 2 and abs(page.image.height - A4_300[1]) <= 2
    assert page.dpi == 300 and not page.scaled


def test_huge_mediabox_is_scaled_under_the_pixel_cap(tmp_path: Path) -> None:
    pdf = blank_pdf(tmp_path / "poster.pdf", 14_400, 14_400)  # 200 x 200 inches
    settings = OcrSettings(max_pixels=4_000_000)
    page = render_page(pdf, "pdf", 1, settings)
    assert page.image.width * page.image.height <= settings.max_pixels
    assert page.scaled and page.dpi is not None and page.dpi < 300


def test_huge_image_is_scaled_under_the_pixel_cap(tmp_path: Path) -> None:
    Image.new("L", (8000, 6000), 255).save(tmp_path / "big.png", dpi=(600, 600))
    settings = OcrSettings(max_pixels=12_000_000)
    page = render_page(tmp_path / "big.png", "image", 1, settings)
    assert page.image.width * page.image.height <= settings.max_pixels
    assert page.image.width / page.image.height == pytest.approx(8000 / 6000, rel=0.01)
    assert page.scaled and page.dpi == pytest.approx(600 * page.image.width / 8000, abs=1)


def test_large_jpeg_is_decoded_in_draft_mode_and_fits(tmp_path: Path) -> None:
    Image.new("RGB", (6000, 4000), "white").save(tmp_path / "photo.jpg", quality=50)
    settings = OcrSettings(max_pixels=2_000_000)
    page = render_page(tmp_path / "photo.jpg", "image", 1, settings)
    assert page.image.mode == "L"
    assert page.image.width * page.image.height <= settings.max_pixels


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 1000
    with pytest.raises(DocumentError) as info:
        render_page(bomb, "image", 1, SETTINGS)
    assert info.value.code == "zip_bomb"


def test_bomb_limit_is_restored_afterwards(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(DocumentError):
        render_page(png_bomb(tmp_path / "bomb.png"), "image", 1, SETTINGS)
    assert Image.MAX_IMAGE_PIXELS == before


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    from tests.ocr_samples import exif_bytes

    upright = text_page((600, 400))
    upright.transpose(Image.Transpose.ROTATE_90).convert("RGB").save(
        tmp_path / "photo.jpg", exif=exif_bytes(orientation=6)
    )
    page = render_page(tmp_path / "photo.jpg", "image", 1, SETTINGS)
    assert page.image.size == (600, 400)


def test_transparent_png_becomes_black_on_white(tmp_path: Path) -> None:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (40, 40, 60, 60))
    image.save(tmp_path / "alpha.png")
    page = render_page(tmp_path / "alpha.png", "image", 1, SETTINGS)
    assert page.image.getpixel((5, 5)) == 255 and page.image.getpixel((50, 50)) == 0


def test_sixteen_bit_scan_keeps_its_contrast(tmp_path: Path) -> None:
    image = Image.new("I;16", (50, 50), 65535)
    image.paste(0, (10, 10, 20, 20))
    image.save(tmp_path / "deep.png")
    page = render_page(tmp_path / "deep.png", "image", 1, SETTINGS)
    assert page.image.getpixel((0, 0)) == 255 and page.image.getpixel((15, 15)) == 0


def test_a_page_that_does_not_exist_is_a_page_error(tmp_path: Path) -> None:
    pdf = save_image_pdf(tmp_path / "scan.pdf", [text_page((200, 200))])
    with open_pages(pdf, "pdf", SETTINGS) as source:
        assert source.page_count == 1
        with pytest.raises(OcrPageError) as info:
            source.render(2)
    assert info.value.code == "ocr_page_missing"


def test_html_renamed_png_is_not_an_image(tmp_path: Path) -> None:
    fake = tmp_path / "page.png"
    fake.write_text("<!doctype html><html><body>hi</body></html>")
    with pytest.raises(DocumentError) as info:
        render_page(fake, "image", 1, SETTINGS)
    assert info.value.code == "malformed"


def test_fit_scale() -> None:
    assert fit_scale(100, 100, 2.0, 1_000_000) == 2.0
    scale = fit_scale(10_000, 10_000, 4.0, 1_000_000)
    assert (10_000 * scale) ** 2 <= 1_000_000
