"""OcrSettings: defaults, parsing and loud failures for bad values."""

from __future__ import annotations

import pytest

from aegis.ocr.settings import DEFAULT_MAX_PIXELS, OcrSettings, OcrSettingsError


def test_defaults_when_nothing_is_set() -> None:
    settings = OcrSettings.from_env({})
    assert settings == OcrSettings()
    assert (settings.batch_pages, settings.dpi, settings.languages) == (4, 300, "eng")
    assert settings.max_pixels == DEFAULT_MAX_PIXELS
    assert (settings.page_timeout, settings.min_text_chars, settings.mode) == (60.0, 20, "auto")


def test_values_are_read_from_the_environment() -> None:
    settings = OcrSettings.from_env(
        {
            "AEGIS_OCR_BATCH_PAGES": "8",
            "AEGIS_OCR_DPI": "200",
            "AEGIS_OCR_LANGUAGES": "eng+deu",
            "AEGIS_OCR_MAX_PIXELS": "20_000_000",
            "AEGIS_OCR_PAGE_TIMEOUT": "12.5",
            "AEGIS_OCR_MIN_TEXT_CHARS": "5",
            "AEGIS_OCR": "ALWAYS",
        }
    )
    assert settings.batch_pages == 8 and settings.dpi == 200
    assert settings.language_list == ["eng", "deu"]
    assert settings.max_pixels == 20_000_000 and settings.page_timeout == 12.5
    assert settings.min_text_chars == 5 and settings.mode == "always"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AEGIS_OCR_BATCH_PAGES", "0"),
        ("AEGIS_OCR_BATCH_PAGES", "four"),
        ("AEGIS_OCR_DPI", "5000"),
        ("AEGIS_OCR_LANGUAGES", "eng;rm -rf"),
        ("AEGIS_OCR_PAGE_TIMEOUT", "0"),
        ("AEGIS_OCR_MAX_PIXELS", "10"),
        ("AEGIS_OCR", "sometimes"),
    ],
)
def test_bad_values_fail_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(OcrSettingsError, match=name):
        OcrSettings.from_env({name: value})


def test_settings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        OcrSettings().dpi = 100  # type: ignore[misc]
