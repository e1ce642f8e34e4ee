"""The stage runner's engine has no pre-ping: a connection PostgreSQL dropped costs one retry.

Every backend of the stack's database is terminated between two documents (what
a PostgreSQL restart or a failover does to pooled connections). Each stage
worker's first claim or finish after that fails on its dead connection, the
pool is discarded, the task retries once, and the document still ends
succeeded with every stage run once or twice, never more.
"""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import select, text

from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import StageRun
from tests.harness import ApiClient, Stack, stack_of_its_own

pytestmark = pytest.mark.integration


def _terminate_other_backends(settings: object) -> int:
    """Ends every connection to this test's own database but ours (never the server)."""
    with session_scope(settings) as session:  # type: ignore[arg-type]
        ended = session.execute(text(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )).scalar_one()
    dispose_engines()
    return int(ended)


RETRY = re.compile(r"aegis\.(\w+)\[[^\]]+\] retry: Retry in")


def _retried_stages(stack: Stack) -> list[str]:
    """The stage of every task retry the workers logged (whole logs, not the tails ``log_text`` keeps)."""
    return [m for path in stack.logs.values() if path.exists() for m in RETRY.findall(path.read_text(errors="replace"))]


def test_dropped_stage_connections_cost_one_retry_and_the_document_still_succeeds() -> None:
    with stack_of_its_own() as stack:
        api = ApiClient(stack.url, stack.create_tenant("stale"))
        first = api.upload_bytes("warm.txt", f"Warm every worker's pool {uuid.uuid4()}.\n".encode() * 8).json()["id"]
        assert api.wait(first)["status"] == "succeeded"
        retries_before = _retried_stages(stack)

        assert _terminate_other_backends(stack.settings()) >= 5  # at least one per stage worker

        second = api.upload_bytes("after.txt", f"After the drop {uuid.uuid4()}.\n".encode() * 8).json()["id"]
        document = api.wait(second, timeout=120)
        assert document["status"] == "succeeded"
        with session_scope(stack.settings()) as session:
            rows = session.execute(select(StageRun.stage, StageRun.attempts).where(StageRun.document_id == second))
            attempts = {stage: n for stage, n in rows}
        # A dead connection at the claim costs no attempt, at the finish one more: never a third.
        assert all(1 <= n <= 2 for n in attempts.values()), attempts
        retries = _retried_stages(stack)[len(retries_before):]
        # The workers did meet the dead connections (no pre-ping hid them), at most once per stage.
        assert retries, stack.log_text()
        assert all(retries.count(stage) <= 1 for stage in set(retries)), retries
        dispose_engines()
