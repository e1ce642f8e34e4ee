"""The reconciler's decisions, on a real (SQLite) database: no services needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from aegis.config import load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Tenant, utcnow
from aegis.pipeline import reconciler
from aegis.services.documents import intake


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator:
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_TIME_LIMIT_VALIDATE": "10", "AEGIS_MAX_ATTEMPTS": "2"})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def _document(session: Session, sha: str = "a" * 64):
    tenant = Tenant(name=f"t-{sha[:4]}")
    session.add(tenant)
    session.flush()
    return intake(session, tenant.id, "x.pdf", sha, 10, admitted=True).document


def test_a_document_without_progress_past_its_stage_limit_is_redispatched_once(settings) -> None:
    with session_scope(settings) as session:
        doc = _document(session)
        doc.progress_at = utcnow() - timedelta(seconds=60)
    with session_scope(settings) as session:
        actions = reconciler.reconcile(session, settings)
    assert [(a.document_id, a.stage, a.action) for a in actions] == [(doc.id, "validate", "redispatch")]
    with session_scope(settings) as session:
        assert reconciler.reconcile(session, settings) == []  # progress_at was bumped


def test_a_recent_document_is_left_alone(settings) -> None:
    with session_scope(settings) as session:
        _document(session)
    with session_scope(settings) as session:
        assert reconciler.reconcile(session, settings) == []


def test_a_stage_that_crashed_max_attempts_times_fails_with_worker_lost(settings) -> None:
    with session_scope(settings) as session:
        doc = _document(session)
        run = next(r for r in doc.stage_runs if r.stage == "validate")
        run.status, run.attempts, run.started_at = "running", 2, utcnow() - timedelta(seconds=60)
        doc.status, doc.progress_at = "processing", utcnow() - timedelta(seconds=60)
    with session_scope(settings) as session:
        actions = reconciler.reconcile(session, settings)
    assert [a.action for a in actions] == ["failed"]
    with session_scope(settings) as session:
        from aegis.persistence.models import Document

        stored = session.get(Document, doc.id)
        assert (stored.status, stored.error_code) == ("failed", "worker_lost")
        assert {r.stage: r.status for r in stored.stage_runs} == {
            "validate": "failed", "metadata": "skipped", "content": "skipped", "ocr": "skipped", "ai": "skipped"}


def test_finished_documents_are_never_touched(settings) -> None:
    with session_scope(settings) as session:
        doc = _document(session)
        doc.status, doc.stage = "succeeded", None
        doc.progress_at = utcnow() - timedelta(days=1)
    with session_scope(settings) as session:
        assert reconciler.reconcile(session, settings) == []


class _KeyMarker:
    """The Redis marker over a dict: the detection rules without a server (integration tests use Redis)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.started: object = None

    def exists(self, epoch: str) -> bool:
        return epoch in self.keys

    def create(self, epoch: str) -> None:
        self.keys.add(epoch)

    def remove(self, epoch: str) -> None:
        self.keys.discard(epoch)

    def started_at(self):
        return self.started


def test_the_first_pass_only_writes_a_marker_and_a_kept_marker_means_no_loss(settings) -> None:
    from aegis.pipeline import brokerloss

    marker = _KeyMarker()
    with session_scope(settings) as session:
        first = brokerloss.check(session, marker)
    with session_scope(settings) as session:
        second = brokerloss.check(session, marker)
    assert not first.lost and not second.lost
    assert marker.keys == {first.epoch} and second.epoch == first.epoch


def test_a_broker_that_lost_its_marker_is_a_loss_once_with_a_new_epoch(settings) -> None:
    from aegis.pipeline import brokerloss

    marker = _KeyMarker()
    with session_scope(settings) as session:
        old = brokerloss.check(session, marker).epoch
    marker.keys.clear()  # the broker came back empty
    with session_scope(settings) as session:
        lost = brokerloss.check(session, marker)
    assert lost.lost and lost.epoch != old and lost.resend_before is not None
    with session_scope(settings) as session:
        assert brokerloss.check(session, marker).lost  # until every document was sent again
        brokerloss.finish_resend(session)
    with session_scope(settings) as session:
        assert not brokerloss.check(session, marker).lost


def test_after_a_broker_loss_queued_and_orphaned_running_documents_are_sent_again_at_once(settings) -> None:
    # Taken first, so `later` (made below) is after it however slowly the rows are written.
    before = utcnow() - timedelta(seconds=1)  # the broker restarted; `later` was sent after it
    with session_scope(settings) as session:
        queued = _document(session, "b" * 64)
        orphan = _document(session, "c" * 64)
        live = _document(session, "d" * 64)
        later = _document(session, "e" * 64)
        for doc, task in ((orphan, "t-orphan"), (live, "t-live")):
            run = next(r for r in doc.stage_runs if r.stage == "validate")
            run.status, run.attempts, run.task_id, run.started_at = "running", 1, task, utcnow()
            doc.status = "processing"
        for doc in (queued, orphan, live):
            doc.progress_at = before - timedelta(seconds=2)
    with session_scope(settings) as session:
        actions, complete = reconciler.after_broker_loss(session, before, {"t-live"})
    assert complete
    assert sorted(a.document_id for a in actions) == sorted([queued.id, orphan.id])
    assert all((a.stage, a.action, a.batch) == ("validate", "redispatch", None) for a in actions)
    assert later.id not in {a.document_id for a in actions}
    with session_scope(settings) as session:
        from aegis.persistence.models import Document

        run = next(r for r in session.get(Document, orphan.id).stage_runs if r.stage == "validate")
        # Released for the new message, and the broker's fault is not the document's attempt.
        assert (run.status, run.task_id, run.attempts) == ("pending", None, 0)
        live_run = next(r for r in session.get(Document, live.id).stage_runs if r.stage == "validate")
        assert (live_run.status, live_run.task_id) == ("running", "t-live")
        # Sent again: the ordinary pass leaves them alone now.
        assert reconciler.reconcile(session, settings) == []


def test_after_a_broker_loss_only_the_open_batches_no_worker_runs_are_sent_again(settings) -> None:
    from aegis.persistence.models import Batch

    with session_scope(settings) as session:
        doc = _document(session, "f" * 64)
        doc.stage, doc.status, doc.progress_at = "ocr", "processing", utcnow() - timedelta(seconds=5)
        run = next(r for r in doc.stage_runs if r.stage == "ocr")
        run.status = "running"
        for index, (status, task) in enumerate(
            (("succeeded", None), ("running", "t-dead"), ("running", "t-live"), ("pending", None))
        ):
            session.add(Batch(document_id=doc.id, stage="ocr", index=index, pages=[index], status=status,
                              attempts=1 if task else 0, task_id=task, started_at=utcnow() if task else None))
    with session_scope(settings) as session:
        actions, _ = reconciler.after_broker_loss(session, utcnow(), {"t-live"})
    assert [(a.stage, a.batch) for a in actions] == [("ocr", 1), ("ocr", 3)]
    with session_scope(settings) as session:
        dead = session.get(Batch, (doc.id, "ocr", 1))
        assert (dead.status, dead.task_id, dead.attempts) == ("pending", None, 0)
        assert session.get(Batch, (doc.id, "ocr", 2)).status == "running"
