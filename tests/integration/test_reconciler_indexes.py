"""The reconciler's scans use the partial indexes of migration 0003 on PostgreSQL.

Only PostgreSQL's planner decides, so this runs there (no workers needed). The
partial index is chosen only if the query's ``status`` condition implies the index
predicate: a change to ACTIVE_STATUSES or to the query that broke that would turn
the scan into a read of every document ever processed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import event

from aegis.config import load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, get_engine, session_scope
from aegis.persistence.models import Base
from aegis.pipeline import reconciler
from tests.harness import postgres_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def settings() -> Iterator[Any]:
    with postgres_database() as url:
        s = load_settings({"AEGIS_DATABASE_URL": url})
        migrate.upgrade(s)
        try:
            yield s
        finally:
            dispose_engines()


def test_the_migrated_schema_matches_the_models_on_postgresql(settings: Any) -> None:
    with get_engine(settings).connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_the_reconciler_scans_read_only_the_partial_indexes_of_rows_in_flight(settings: Any) -> None:
    engine = get_engine(settings)
    scans: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FOR UPDATE" in statement:
            scans.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_scope(settings) as session:
            reconciler.reconcile(session, settings)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert len(scans) == 2  # documents in flight; running OCR batches
    plans = []
    with engine.connect() as conn:
        # An empty table would be read sequentially; forbid that to see which index fits.
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in scans:
            plans.append("\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)))
        conn.rollback()
    assert "ix_documents_active_progress" in plans[0], plans[0]
    assert "ix_batches_running_started" in plans[1], plans[1]
