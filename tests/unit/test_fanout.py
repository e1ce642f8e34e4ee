"""The fan-out runner on SQLite with a throw-away fanned-out stage: batches, the join
exactly once, failures that do not sink the document, and the reconciler's re-sends."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aegis.config import Settings, load_settings
from aegis.formats.base import DocumentError
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Batch, Document, utcnow
from aegis.pipeline import reconciler
from aegis.pipeline.batches import BatchOutcome, execute_batch, open_batches
from aegis.pipeline.registry import REGISTRY, Registry, StageSpec
from aegis.pipeline.runner import Outcome, execute
from aegis.pipeline.stage import DocumentView, FanOutPlan, FanOutStage
from aegis.vocabulary import ErrorCode
from tests.unit.pipeline_helpers import stored_document


class CountStage(FanOutStage[None, list[int]]):
    """Doubles each unit; unit 13 is unreadable; ``join`` sums what was done."""

    joins = 0

    def load(self, session: Session, document: Document) -> None:
        return None

    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: None) -> FanOutPlan:
        units = list(range(1, 8)) if "scan" in doc.filename else []
        return FanOutPlan(batches=[units[i:i + 3] for i in range(0, len(units), 3)], detail={})

    def save(self, session: Session, document: Document, result: FanOutPlan) -> None:
        document.doc_metadata = {"planned": result.units}

    def run_batch(self, settings: Settings, doc: DocumentView, blob: Path, units: list[int]) -> list[int]:
        if 13 in units:
            raise DocumentError(ErrorCode.OCR_PAGE_UNREADABLE)
        return [u * 2 for u in units]

    def save_batch(self, session: Session, document: Document, units: list[int], result: list[int]) -> None:
        meta = dict(document.doc_metadata or {})
        meta["done"] = sorted([*meta.get("done", []), *result])
        document.doc_metadata = meta

    def fail_batch(self, session: Session, document: Document, units: list[int], code: str) -> None:
        meta = dict(document.doc_metadata or {})
        meta["failed"] = sorted([*meta.get("failed", []), *units])
        document.doc_metadata = meta

    def join(self, settings: Settings, session: Session, document: Document) -> None:
        type(self).joins += 1
        meta = dict(document.doc_metadata or {})
        if not meta.get("done"):
            raise DocumentError(ErrorCode.OCR_FAILED)
        meta["total"] = sum(meta["done"])
        document.doc_metadata = meta


@pytest.fixture()
def registry() -> Registry:
    specs = [s for s in REGISTRY if s.name in ("validate",)]
    specs.append(StageSpec("count", time_limit=10, parses_untrusted=False, factory=CountStage, fans_out=True))
    CountStage.joins = 0
    return Registry(specs)


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_MAX_ATTEMPTS": "2"})
    s = dataclasses.replace(s, time_limits={**s.time_limits, "count": 10})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def _upload(settings: Settings, registry: Registry, name: str = "scan.txt") -> tuple[str, str]:
    data = f"{name}: words enough to be a text file. ".encode() * 5
    return stored_document(settings, data, name, registry)


def _to_count(settings: Settings, registry: Registry, name: str = "scan.txt") -> tuple[str, str]:
    doc_id, token = _upload(settings, registry, name)
    assert execute(settings, "validate", doc_id, token, task_id="v", worker="w", registry=registry) is Outcome.SUCCEEDED
    return doc_id, token


def _batch(
    settings: Settings, registry: Registry, doc_id: str, token: str, index: int, task: str = "t"
) -> tuple[BatchOutcome, str | None]:
    return execute_batch(
        settings, "count", doc_id, token, index, task_id=f"{task}{index}", worker="w", registry=registry
    )


def _doc(settings: Settings, doc_id: str) -> Document:
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        assert doc is not None
        _ = doc.stage_runs
        session.expunge_all()
        return doc


def test_the_stage_fans_out_and_the_last_batch_joins_once(settings: Settings, registry: Registry) -> None:
    doc_id, token = _to_count(settings, registry)
    assert execute(settings, "count", doc_id, token, task_id="c", worker="w", registry=registry) is Outcome.FANNED_OUT
    assert open_batches(settings, doc_id, "count") == [0, 1, 2]
    assert _batch(settings, registry, doc_id, token, 2) == (BatchOutcome.DONE, None)
    assert _batch(settings, registry, doc_id, token, 0) == (BatchOutcome.DONE, None)
    # A duplicate of an ended batch is dropped and counts nothing.
    assert _batch(settings, registry, doc_id, token, 0, task="dup")[0] is BatchOutcome.DROPPED
    assert _batch(settings, registry, doc_id, token, 1)[0] is BatchOutcome.ENDED  # count is the last stage
    doc = _doc(settings, doc_id)
    assert doc.status == "succeeded" and CountStage.joins == 1
    assert doc.doc_metadata["total"] == sum(u * 2 for u in range(1, 8))
    run = next(r for r in doc.stage_runs if r.stage == "count")
    assert (run.status, run.pages_total, run.pages_done) == ("succeeded", 7, 7)


def test_nothing_to_do_skips_the_stage(settings: Settings, registry: Registry) -> None:
    doc_id, token = _to_count(settings, registry, "note.txt")
    assert execute(settings, "count", doc_id, token, task_id="c", worker="w", registry=registry) is Outcome.SUCCEEDED
    doc = _doc(settings, doc_id)
    assert doc.status == "succeeded"
    assert next(r for r in doc.stage_runs if r.stage == "count").status == "skipped"


def test_a_batch_that_crashed_every_attempt_is_ended_without_sinking_the_document(
    settings: Settings, registry: Registry
) -> None:
    doc_id, token = _to_count(settings, registry)
    execute(settings, "count", doc_id, token, task_id="c", worker="w", registry=registry)
    _batch(settings, registry, doc_id, token, 0)
    _batch(settings, registry, doc_id, token, 1)
    with session_scope(settings) as session:  # batch 2 crashed twice (max attempts)
        batch = session.scalars(select(Batch).where(Batch.document_id == doc_id, Batch.index == 2)).one()
        batch.status, batch.attempts, batch.task_id = "running", 2, "dead"
        batch.started_at = utcnow() - timedelta(seconds=60)
    assert _batch(settings, registry, doc_id, token, 2, task="dead")[0] is BatchOutcome.ENDED
    doc = _doc(settings, doc_id)
    assert doc.status == "succeeded"
    assert doc.doc_metadata["failed"] == [7]
    assert CountStage.joins == 1


def test_the_reconciler_resends_a_dead_workers_batch_while_others_progress(
    settings: Settings, registry: Registry
) -> None:
    doc_id, token = _to_count(settings, registry)
    execute(settings, "count", doc_id, token, task_id="c", worker="w", registry=registry)
    with session_scope(settings) as session:
        batch = session.scalars(select(Batch).where(Batch.document_id == doc_id, Batch.index == 1)).one()
        batch.status, batch.attempts, batch.task_id = "running", 1, "gone"
        batch.started_at = utcnow() - timedelta(seconds=60)  # past the 10 s limit
    _batch(settings, registry, doc_id, token, 0)  # the document is making progress
    with session_scope(settings) as session:
        actions = reconciler.reconcile(session, settings, registry=registry)
    assert [(a.stage, a.batch) for a in actions] == [("count", 1)]
    assert _batch(settings, registry, doc_id, token, 1, task="again")[0] is BatchOutcome.DONE
    assert _batch(settings, registry, doc_id, token, 2)[0] is BatchOutcome.ENDED
    assert CountStage.joins == 1


def test_when_every_unit_fails_the_join_fails_the_document(settings: Settings, registry: Registry) -> None:
    doc_id, token = _to_count(settings, registry)
    execute(settings, "count", doc_id, token, task_id="c", worker="w", registry=registry)
    with session_scope(settings) as session:
        for batch in session.scalars(select(Batch).where(Batch.document_id == doc_id)):
            batch.pages = [13]
    for index in range(3):
        _batch(settings, registry, doc_id, token, index)
    doc = _doc(settings, doc_id)
    assert (doc.status, doc.error_code) == ("failed", "ocr_failed")
