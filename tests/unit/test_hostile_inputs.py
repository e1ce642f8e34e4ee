"""Every hostile input ends quickly in its expected outcome, never a crash.

The generators live in tests/hostile_inputs.py; this runs each one through the
full extraction path (validate, then metadata and pages if it was accepted).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from aegis.formats import DocumentError, Limits, extract_metadata, extract_pages, validate
from tests.hostile_inputs import CASES, OK

# Generous: the point is "no hang" (a parser spinning on a bomb). Counted in this process's
# CPU seconds, not wall-clock, so other processes loading the machine cannot use it up.
MAX_SECONDS = 20.0


def run_case(tmp_path: Path, filename: str, data: bytes, limits: Limits | None = None) -> tuple[str, object]:
    """Return ("ok", (metadata, pages)) or (code, DocumentError)."""
    limits = limits or Limits()
    blob = tmp_path / "blob"  # stored content-addressed, like the real store: no extension
    blob.write_bytes(data)
    try:
        detection = validate(blob, filename, limits)
        metadata = extract_metadata(blob, detection, limits)
        pages = extract_pages(blob, detection, limits)
    except DocumentError as exc:
        assert exc.message and exc.message[-1] in ".!?", "messages are sentences for people"
        return exc.code, exc
    return OK, (metadata, pages)


def test_there_are_at_least_25_hostile_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_ends_in_its_expected_outcome_quickly(name: str, tmp_path: Path) -> None:
    filename, data, expected = CASES[name]()
    started = time.process_time()
    outcome, result = run_case(tmp_path, filename, data)
    elapsed = time.process_time() - started
    assert outcome in expected, f"{name}: got {outcome} ({getattr(result, 'message', '')}), expected {set(expected)}"
    assert elapsed < MAX_SECONDS, f"{name} took {elapsed:.1f} CPU seconds"
    if outcome == OK:
        metadata, pages = result  # type: ignore[misc]
        text = json.dumps(metadata)
        assert "\\u0000" not in text
        assert all("\0" not in page.text for page in pages)


def test_bidi_overrides_and_zero_width_characters_are_stripped_from_text(tmp_path: Path) -> None:
    from tests.hostile_inputs import bidi_and_zero_width

    outcome, result = run_case(tmp_path, *bidi_and_zero_width()[:2])
    assert outcome == OK
    _, pages = result  # type: ignore[misc]
    text = pages[0].text
    for char in "\u202e\u202c\u200b\u2066\u2069\ufeff":
        assert char not in text
    assert "Invoice TXT.EXE total 10 0 EUR paid" in text


def test_invalid_utf8_is_decoded_with_replacement_characters(tmp_path: Path) -> None:
    from tests.hostile_inputs import invalid_utf8_text

    outcome, result = run_case(tmp_path, *invalid_utf8_text()[:2])
    assert outcome == OK
    _, pages = result  # type: ignore[misc]
    assert "Café crème brûlée" in pages[0].text
    assert "\ufffd" in pages[0].text


def test_pdf_javascript_is_flagged_not_rejected(tmp_path: Path) -> None:
    from tests.hostile_inputs import pdf_javascript

    outcome, result = run_case(tmp_path, *pdf_javascript()[:2])
    assert outcome == OK
    metadata, _ = result  # type: ignore[misc]
    assert metadata["pdf"]["javascript"] is True


def test_cyclic_outline_is_counted_once_per_entry(tmp_path: Path) -> None:
    from tests.hostile_inputs import pdf_cyclic_outline

    outcome, result = run_case(tmp_path, *pdf_cyclic_outline()[:2])
    assert outcome == OK
    metadata, _ = result  # type: ignore[misc]
    assert metadata["pdf"]["outline_entries"] == 2


def test_pdf_with_zip_appended_is_read_as_the_pdf_it_is(tmp_path: Path) -> None:
    from tests.hostile_inputs import pdf_with_zip_appended

    outcome, result = run_case(tmp_path, *pdf_with_zip_appended()[:2])
    assert outcome == OK
    _, pages = result  # type: ignore[misc]
    assert "Hello hostile world" in pages[0].text


def test_file_over_the_size_limit_is_too_large(tmp_path: Path) -> None:
    from tests.hostile_inputs import simple_pdf

    outcome, _ = run_case(tmp_path, "big.pdf", simple_pdf(), Limits(max_bytes=100))
    assert outcome == "too_large"


def test_page_cap_applies_to_ordinary_documents(tmp_path: Path) -> None:
    from tests.hostile_inputs import _many_pages

    outcome, _ = run_case(tmp_path, "ten.pdf", _many_pages(10, 10), Limits(max_pages=5))
    assert outcome == "too_many_pages"


def test_text_is_capped_at_max_text_chars(tmp_path: Path) -> None:
    outcome, result = run_case(tmp_path, "long.txt", b"word " * 10_000, Limits(max_text_chars=1000))
    assert outcome == OK
    _, pages = result  # type: ignore[misc]
    total = sum(len(page.text) for page in pages)
    assert 0 < total <= 1000


def test_zip_ratio_guard_runs_before_the_office_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """python-docx must never see a bomb: fail loudly if it is called."""
    import docx

    from tests.hostile_inputs import docx_zip_bomb

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("python-docx opened a zip bomb")

    monkeypatch.setattr(docx, "Document", refuse)
    outcome, _ = run_case(tmp_path, *docx_zip_bomb()[:2])
    assert outcome == "zip_bomb"


def test_unexpected_library_exceptions_become_malformed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aegis.formats import json as json_format

    def explode(*_args: object, **_kwargs: object) -> None:
        raise KeyError("library bug")

    monkeypatch.setattr(json_format, "check", explode)
    outcome, _ = run_case(tmp_path, "a.json", b'{"a": 1}')
    assert outcome == "malformed"


def test_recursion_error_anywhere_becomes_nesting_too_deep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aegis.formats import json as json_format

    def recurse(*_args: object, **_kwargs: object) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(json_format, "check", recurse)
    outcome, _ = run_case(tmp_path, "a.json", b'{"a": 1}')
    assert outcome == "nesting_too_deep"
