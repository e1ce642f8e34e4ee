"""Which transactions wait for the WAL flush: uploads do, the stage runner's claim and finish do not.

A lost claim or finish is re-driven by the reconciler (see docs/performance.md,
"Third round"); an accepted upload must never be lost, so it stays durable.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from aegis.config import Settings, load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.pipeline import runner
from aegis.pipeline.runner import Outcome, execute
from aegis.pipeline.stages import ai as ai_stage
from tests.harness import postgres_database
from tests.unit.pipeline_helpers import stored_document


@pytest.fixture()
def settings(tmp_path: object) -> Iterator[Settings]:
    with postgres_database() as url:
        s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_DATABASE_URL": url})
        migrate.upgrade(s)
        try:
            yield s
        finally:
            dispose_engines()


def _synchronous_commit(settings: Settings, durable: bool) -> str:
    with session_scope(settings, durable=durable) as session:
        return str(session.scalar(text("SHOW synchronous_commit")))


def test_default_sessions_wait_for_the_flush_and_stage_sessions_do_not(settings: Settings) -> None:
    assert _synchronous_commit(settings, durable=True) == "on"
    assert _synchronous_commit(settings, durable=False) == "off"


def _record_durable(monkeypatch: pytest.MonkeyPatch, module: object, name: str) -> list[bool]:
    """Wrap ``module.name(settings, durable)`` to record each call's ``durable``."""
    seen: list[bool] = []
    real = getattr(module, name)

    def recording(s: Settings, durable: bool = True) -> object:
        seen.append(durable)
        return real(s, durable)

    monkeypatch.setattr(module, name, recording)
    return seen


def test_the_runner_claims_and_finishes_without_the_flush_except_the_documents_end(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_durable(monkeypatch, runner, "session_scope")
    vector_writes = _record_durable(monkeypatch, ai_stage, "session_factory")
    doc_id, token = stored_document(settings, b"Aegis stage commits. " * 20, "notes.txt")
    for stage in ("validate", "metadata", "content", "ocr", "ai"):
        assert execute(settings, stage, doc_id, token, task_id="t1", worker="w:1") is Outcome.SUCCEEDED
    # Claim and finish of every stage; the last finish ends the document and waits for the flush.
    assert seen == [False, False] * 4 + [False, True]
    # The AI stage's vectors too: the durable finish after them flushes them.
    assert vector_writes == [False]
