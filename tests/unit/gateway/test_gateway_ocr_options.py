"""The upload's ``ocr`` and ``ocr_languages`` fields: validated at the door, kept per document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.test import TestResponse

from aegis.config import Settings
from aegis.persistence.db import session_scope
from aegis.persistence.models import Document

Problem = Callable[[TestResponse, int, str], dict[str, Any]]
Upload = Callable[..., TestResponse]


def _options(settings: Settings, doc_id: str) -> dict[str, Any] | None:
    with session_scope(settings) as session:
        document = session.get(Document, doc_id)
        assert document is not None
        return document.options


def test_ocr_options_are_kept_with_the_document(upload: Upload, settings: Settings) -> None:
    response = upload(b"a scan, supposedly\n", "scan.txt", ocr="always", ocr_languages="eng+deu")
    assert response.status_code == 202, response.get_json()
    assert _options(settings, response.get_json()["id"]) == {"ocr": "always", "ocr_languages": "eng+deu"}


def test_no_ocr_fields_store_no_options(upload: Upload, settings: Settings) -> None:
    response = upload(b"plain words\n", "plain.txt")
    assert _options(settings, response.get_json()["id"]) is None


@pytest.mark.parametrize("value", ["sometimes", "ON", "1"])
def test_an_unknown_ocr_mode_is_a_400(upload: Upload, problem: Problem, value: str) -> None:
    problem(upload(b"x\n", "x.txt", ocr=value), 400, "invalid_ocr_option")


@pytest.mark.parametrize("value", ["eng+", "eng deu", "../eng", "eng+xx_not_installed"])
def test_an_ocr_language_that_is_malformed_or_not_installed_is_a_400(
    upload: Upload, problem: Problem, value: str
) -> None:
    body = problem(upload(b"x\n", "x.txt", ocr_languages=value), 400, "invalid_ocr_languages")
    if value.endswith("not_installed"):
        assert body["languages"] == ["xx_not_installed"]
        assert "tesseract-ocr-xx-not-installed" in body["detail"]
