"""``aegis upload``'s bar: an equal share per stage, filled page by page while OCR reads."""

from __future__ import annotations

from typing import Any

from aegis.cli.uploader import STAGE_SHARE, UPLOAD_SHARE, _stage_progress
from aegis.pipeline.registry import STAGES


def _doc(stage: str, **ocr: Any) -> dict[str, Any]:
    index = STAGES.index(stage)
    stages = {s: {"status": "succeeded" if i < index else "pending"} for i, s in enumerate(STAGES)}
    stages[stage] = {"status": "running", **ocr}
    return {"status": "processing", "stage": stage, "error": None, "stages": stages}


def test_ocr_fills_its_share_page_by_page_and_says_how_far_it_is() -> None:
    done_before = STAGES.index("ocr")
    percent, label = _stage_progress(_doc("ocr", pages_total=40, pages_done=10))
    assert label == "ocr 10/40"
    assert percent == UPLOAD_SHARE + (done_before + 0.25) * STAGE_SHARE


def test_a_stage_without_pages_counts_whole() -> None:
    percent, label = _stage_progress(_doc("content"))
    assert (percent, label) == (UPLOAD_SHARE + STAGES.index("content") * STAGE_SHARE, "content")


def test_an_ended_document_is_full_and_names_its_error() -> None:
    doc = _doc("ocr") | {"status": "failed", "error": {"code": "ocr_failed", "message": "..."}}
    assert _stage_progress(doc) == (100.0, "failed: ocr_failed")
