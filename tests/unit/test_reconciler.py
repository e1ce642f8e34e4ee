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
from aegis.services.documents import create_document


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
    return create_document(session, tenant.id, "x.pdf", sha, 10).document


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
