"""The image format family: checks, metadata and empty pages for OCR to fill."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from aegis.formats import image
from aegis.formats.base import DocumentError, Limits
from tests.ocr_samples import exif_bytes, png_bomb, text_page

LIMITS = Limits()


@pytest.mark.parametrize(
    ("name", "fmt", "mime"),
    [
        ("a.png", "PNG", "image/png"),
        ("a.jpg", "JPEG", "image/jpeg"),
        ("a.tif", "TIFF", "image/tiff"),
        ("a.webp", "WEBP", "image/webp"),
        ("a.bmp", "BMP", "image/bmp"),
        ("a.gif", "GIF", "image/gif"),
    ],
)
def test_each_format_is_checked_and_described(tmp_path: Path, name: str, fmt: str, mime: str) -> None:
    path = tmp_path / name
    text_page((320, 200)).save(path)
    assert image.check(path, LIMITS) == {"pages": 1, "format": fmt}
    meta = image.extract_metadata(path, LIMITS)
    assert meta["pages"] == 1
    assert meta["image"]["format"] == fmt and meta["image"]["mime"] == mime
    assert (meta["image"]["width"], meta["image"]["height"]) == (320, 200)
    assert [(p.number, p.text) for p in image.extract_pages(path, LIMITS)] == [(1, "")]


def test_multi_page_tiff_is_one_page_per_frame(tmp_path: Path) -> None:
    frames = [text_page((200, 100)) for _ in range(4)]
    frames[0].save(tmp_path / "scan.tif", save_all=True, append_images=frames[1:], dpi=(300, 300))
    meta = image.extract_metadata(tmp_path / "scan.tif", LIMITS)
    assert meta["pages"] == 4 and meta["image"]["frames"] == 4 and meta["image"]["dpi"] == [300, 300]
    assert [p.number for p in image.extract_pages(tmp_path / "scan.tif", LIMITS)] == [1, 2, 3, 4]


def test_animated_gif_is_read_as_its_first_frame(tmp_path: Path) -> None:
    frames = [text_page((100, 100), lines=(str(i),), font_size=40) for i in range(30)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    meta = image.extract_metadata(tmp_path / "anim.gif", LIMITS)
    assert meta["pages"] == 1 and meta["image"]["frames"] == 30


def test_tiff_with_too_many_frames_is_refused(tmp_path: Path) -> None:
    frames = [Image.new("1", (8, 8), 1) for _ in range(12)]
    frames[0].save(tmp_path / "many.tif", save_all=True, append_images=frames[1:])
    with pytest.raises(DocumentError) as info:
        image.check(tmp_path / "many.tif", Limits(max_pages=10))
    assert info.value.code == "too_many_pages"


def test_exif_basics_without_gps_coordinates(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    raw = exif_bytes(orientation=6, make="Canon", model="EOS 5D", taken="2024:05:06 07:08:09")
    loaded = Image.Exif()
    loaded.load(raw)
    loaded.get_ifd(0x8825)[2] = (48.0, 51.0, 0.0)  # a latitude
    loaded[0x0131] = "Scanner 2.0"
    text_page((300, 200)).convert("RGB").save(path, exif=loaded.tobytes())
    meta = image.extract_metadata(path, LIMITS)
    detail = meta["image"]
    assert (detail["make"], detail["model"], detail["orientation"]) == ("Canon", "EOS 5D", 6)
    assert detail["taken_at"] == meta["created_at"] == "2024-05-06T07:08:09+02:00"
    assert detail["software"] == "Scanner 2.0" and detail["has_gps"] is True
    assert "48" not in str(meta)  # coordinates are never copied


def test_png_text_chunks_give_title_and_author(tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Title", "Signed contract")
    info.add_text("Author", "Jane Roe")
    text_page((100, 100)).save(tmp_path / "c.png", pnginfo=info)
    meta = image.extract_metadata(tmp_path / "c.png", LIMITS)
    assert (meta["title"], meta["author"]) == ("Signed contract", "Jane Roe")


def test_decompression_bomb_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as info:
        image.check(png_bomb(tmp_path / "bomb.png"), LIMITS)
    assert info.value.code == "zip_bomb"


def test_truncated_jpeg_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    text_page((800, 600)).convert("RGB").save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DocumentError) as info:
        image.check(path, LIMITS)
    assert info.value.code == "malformed" and "truncated" in info.value.message


def test_html_renamed_png_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    path.write_text("<!doctype html><html><body>not an image</body></html>")
    with pytest.raises(DocumentError) as info:
        image.check(path, LIMITS)
    assert info.value.code == "malformed"


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DocumentError) as info:
        image.check(tmp_path / "empty.png", LIMITS)
    assert info.value.code == "empty_file"


def test_formats_pillow_could_open_but_we_do_not_accept(tmp_path: Path) -> None:
    text_page((50, 50)).save(tmp_path / "a.pcx")
    with pytest.raises(DocumentError):
        image.check(tmp_path / "a.pcx", LIMITS)


def test_a_heic_photo_from_a_phone_is_an_image_and_its_words_are_read(tmp_path: Path) -> None:
    """HEIC is what iPhones save: detected by content, opened through pi-heif, OCR'd.

    pi-heif only decodes: the photo is encoded with pillow-heif (a test dependency), through
    its own API, so Pillow's HEIF plugin stays pi-heif's."""
    import pillow_heif

    from aegis.formats import Limits, validate
    from aegis.formats.image import register_heif
    from aegis.ocr import OcrSettings, ocr_batch
    from tests.ocr_samples import WORDS, text_page

    register_heif()
    photo = tmp_path / "IMG_0001.HEIC"
    pillow_heif.from_pillow(text_page().convert("RGB")).save(photo, quality=90)
    detection = validate(photo, photo.name, Limits())
    assert (detection.family, detection.mime) == ("image", "image/heic")
    (page,) = ocr_batch(photo, "image", [1], OcrSettings())
    assert page.ok and sum(word in page.text.lower() for word in WORDS) >= len(WORDS) - 1, page
