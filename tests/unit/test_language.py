"""detect_language: ISO 639-1 codes for real text, None when it cannot tell."""

from __future__ import annotations

import pytest

from aegis.text.language import detect_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("The quick brown fox jumps over the lazy dog while the farmer watches from the barn.", "en"),
        ("Der schnelle braune Fuchs springt über den faulen Hund, während der Bauer zusieht.", "de"),
        ("El rápido zorro marrón salta sobre el perro perezoso mientras el granjero mira.", "es"),
        ("Le renard brun rapide saute par-dessus le chien paresseux pendant que le fermier regarde.", "fr"),
        ("Быстрая коричневая лиса прыгает через ленивую собаку, пока фермер смотрит.", "ru"),
        ("これは日本語で書かれた文章です。言語を正しく判定できるか確認します。", "ja"),
    ],
)
def test_detects_the_language_of_ordinary_sentences(text: str, code: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["", "   ", "OK", "12345 67890 3.14 -- ++", "https://example.com/a/b/c?d=e"])
def test_returns_none_when_there_is_too_little_text(text: str) -> None:
    assert detect_language(text) is None


def test_only_two_letter_codes_are_returned() -> None:
    for text in ["Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.", "x" * 100]:
        code = detect_language(text)
        assert code is None or len(code) == 2


def test_long_text_is_sampled_not_scanned_whole() -> None:
    text = "This document is written in plain English for testing purposes. " * 100_000
    assert detect_language(text) == "en"
