"""The stage runner's claim rules, on SQLite with the real stage functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aegis.config import Settings, load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Document, PageText, StageRun, utcnow
from aegis.pipeline.runner import Outcome, execute
from tests.unit.pipeline_helpers import stored_document

TEXT = b"Aegis turns uploaded files into searchable documents. " * 20


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_MAX_ATTEMPTS": "2"})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def _upload(settings: Settings, data: bytes = TEXT, name: str = "notes.txt") -> tuple[str, str]:
    return stored_document(settings, data, name)


def _run(settings: Settings, stage: str, doc_id: str, token: str, task_id: str = "t1") -> Outcome:
    return execute(settings, stage, doc_id, token, task_id=task_id, worker="w:1")


def _mark_running(settings: Settings, doc_id: str, *, task_id: str, attempts: int) -> None:
    """As if a worker had claimed validate just now (and perhaps died)."""
    with session_scope(settings) as session:
        run = session.query(StageRun).filter_by(document_id=doc_id, stage="validate").one()
        run.status, run.task_id, run.started_at, run.attempts = "running", task_id, utcnow(), attempts


def _doc(settings: Settings, doc_id: str) -> tuple[str, str | None, dict[str, tuple[str, int]]]:
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        return doc.status, doc.stage, {r.stage: (r.status, r.attempts) for r in doc.stage_runs}


def test_every_stage_in_order_ends_the_document_succeeded(settings: Settings) -> None:
    doc_id, token = _upload(settings)
    for stage in ("validate", "metadata", "content", "ocr", "ai"):
        assert _run(settings, stage, doc_id, token) is Outcome.SUCCEEDED
    status, stage, runs = _doc(settings, doc_id)
    assert (status, stage) == ("succeeded", None)
    # A text file has nothing to OCR: that stage is skipped, every other one ran once.
    assert runs.pop("ocr") == ("skipped", 1)
    assert set(runs.values()) == {("succeeded", 1)}


def test_the_ai_stage_needs_no_copy_of_the_file(settings: Settings) -> None:
    doc_id, token = _upload(settings)
    for stage in ("validate", "metadata", "content", "ocr"):
        assert _run(settings, stage, doc_id, token) is Outcome.SUCCEEDED
    # Gone from the store: a stage that reads the file would end the document blob_missing.
    for blob in settings.storage_dir.rglob("*"):
        if blob.is_file():
            blob.unlink()
    assert _run(settings, "ai", doc_id, token) is Outcome.SUCCEEDED
    assert _doc(settings, doc_id)[0] == "succeeded"


def test_a_message_with_an_old_token_is_dropped(settings: Settings) -> None:
    doc_id, _token = _upload(settings)
    assert _run(settings, "validate", doc_id, "stale-token") is Outcome.DROPPED
    assert _doc(settings, doc_id)[2]["validate"] == ("pending", 0)


def test_a_duplicate_of_a_finished_stage_is_dropped_and_writes_nothing(settings: Settings) -> None:
    doc_id, token = _upload(settings)
    for stage in ("validate", "metadata", "content"):
        _run(settings, stage, doc_id, token)
    with session_scope(settings) as session:
        pages_before = session.query(PageText).filter_by(document_id=doc_id).count()
    assert _run(settings, "content", doc_id, token, task_id="t2") is Outcome.DROPPED
    assert _run(settings, "validate", doc_id, token, task_id="t3") is Outcome.DROPPED
    with session_scope(settings) as session:
        assert session.query(PageText).filter_by(document_id=doc_id).count() == pages_before
    assert _doc(settings, doc_id)[1] == "ocr"


def test_a_stage_held_by_another_live_task_is_not_run_twice(settings: Settings) -> None:
    doc_id, token = _upload(settings)
    _mark_running(settings, doc_id, task_id="other", attempts=1)
    assert _run(settings, "validate", doc_id, token, task_id="mine") is Outcome.DROPPED
    assert _doc(settings, doc_id)[2]["validate"] == ("running", 1)


def test_a_redelivered_task_takes_over_and_counts_an_attempt(settings: Settings) -> None:
    doc_id, token = _upload(settings)
    _mark_running(settings, doc_id, task_id="same", attempts=1)
    assert _run(settings, "validate", doc_id, token, task_id="same") is Outcome.SUCCEEDED
    assert _doc(settings, doc_id)[2]["validate"] == ("succeeded", 2)


def test_a_stage_that_crashed_max_attempts_times_fails_the_document(settings: Settings) -> None:
    doc_id, token = _upload(settings)
    _mark_running(settings, doc_id, task_id="same", attempts=2)
    assert _run(settings, "validate", doc_id, token, task_id="same") is Outcome.FAILED
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        assert (doc.status, doc.error_code) == ("failed", "worker_lost")


def test_a_bad_file_is_rejected_with_its_code_and_later_stages_are_skipped(settings: Settings) -> None:
    doc_id, token = _upload(settings, b"MZ\x90\x00" + bytes(200), "setup.pdf")
    assert _run(settings, "validate", doc_id, token) is Outcome.REJECTED
    status, _stage, runs = _doc(settings, doc_id)
    assert status == "rejected"
    assert runs["validate"][0] == "failed"
    assert {runs[s][0] for s in ("metadata", "content", "ocr", "ai")} == {"skipped"}
    with session_scope(settings) as session:
        assert session.get(Document, doc_id).error_code == "type_mismatch"


def test_a_crash_in_a_stage_fails_the_document_with_internal_error_at_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aegis.pipeline.stages.metadata import MetadataStage

    def broken(*_args: object) -> None:
        raise KeyError("a bug")

    monkeypatch.setattr(MetadataStage, "run", broken)
    doc_id, token = _upload(settings)
    _run(settings, "validate", doc_id, token)
    assert _run(settings, "metadata", doc_id, token) is Outcome.FAILED
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        assert (doc.status, doc.error_code) == ("failed", "internal_error")


def test_a_late_original_whose_claim_was_released_and_taken_over_writes_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a broker loss the reconciler releases a claim and a new task takes it: its result counts."""
    from aegis.pipeline.registry import REGISTRY

    doc_id, token = _upload(settings)
    impl = REGISTRY.impl("validate")
    original = impl.run

    def run_while_taken_over(*args: object, **kwargs: object) -> object:
        result = original(*args, **kwargs)
        _mark_running(settings, doc_id, task_id="resent", attempts=1)  # the re-sent message claimed it meanwhile
        return result

    monkeypatch.setattr(impl, "run", run_while_taken_over)
    assert _run(settings, "validate", doc_id, token, task_id="original") is Outcome.DROPPED
    status, stage, runs = _doc(settings, doc_id)
    assert (stage, runs["validate"]) == ("validate", ("running", 1))


def test_the_next_stage_is_handed_on_once_after_the_move_is_committed(settings: Settings) -> None:
    """``on_advance`` (where a worker sends the next message) sees the move already committed."""
    doc_id, token = _upload(settings)
    seen: list[str | None] = []

    def advanced() -> None:
        seen.append(_doc(settings, doc_id)[1])  # read in a transaction of its own

    for stage in ("validate", "metadata", "content", "ocr", "ai"):
        assert execute(settings, stage, doc_id, token, task_id="t1", worker="w:1",
                       on_advance=advanced) is Outcome.SUCCEEDED
    # Once per move to a next stage, each time with the next stage stored; not after the last.
    assert seen == ["metadata", "content", "ocr", "ai"]
    # A duplicate message hands nothing on.
    assert execute(settings, "validate", doc_id, token, task_id="t2", worker="w:1",
                   on_advance=advanced) is Outcome.DROPPED
    assert len(seen) == 4


def test_a_rejected_document_hands_nothing_on(settings: Settings) -> None:
    doc_id, token = _upload(settings, b"", "empty.txt")
    seen: list[str] = []
    outcome = execute(settings, "validate", doc_id, token, task_id="t1", worker="w:1",
                      on_advance=lambda: seen.append("sent"))
    assert outcome is Outcome.REJECTED and seen == []
