"""Claiming work: the same rules for a stage run and for a batch of a fanned-out stage.

Both rows carry an attempt counter, the task that holds them and when it started,
so a redelivered message can take over a crashed attempt, a duplicate of a live
one is dropped, and ``max_attempts`` bounds work that kills every worker it meets.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_

from aegis.persistence.models import Batch, StageRun, as_utc
from aegis.vocabulary import StageStatus


def held_elsewhere(row: StageRun | Batch, task_id: str, time_limit: int, now: datetime) -> bool:
    """True while another task holds ``row`` within its hard time limit (it may still be running)."""
    if row.status != StageStatus.RUNNING or row.task_id == task_id or row.started_at is None:
        return False
    return as_utc(row.started_at) + timedelta(seconds=time_limit) > now


def held_elsewhere_clause(table: Table, task_id: Any, held_since: Any) -> ColumnElement[bool]:
    """:func:`held_elsewhere` as SQL, for a claim made in one statement.

    ``held_since`` is ``now`` minus the time limit: a row started after it is
    still within its limit. Keep the two in step (a test runs the runner's claim
    rules on both paths).
    """
    c = table.c
    return and_(
        c.status == StageStatus.RUNNING,
        c.task_id.is_distinct_from(task_id),
        c.started_at.is_not(None),
        c.started_at > held_since,
    )


def claim(row: StageRun | Batch, *, task_id: str, worker: str, now: datetime) -> None:
    """Count an attempt and record who holds the work from now on."""
    row.attempts += 1
    row.status = StageStatus.RUNNING
    row.task_id = task_id
    row.worker = worker
    row.started_at = now


def unclaim(row: StageRun | Batch, code: str, message: str) -> None:
    """Undo :func:`claim` for work that never started; the reason stays on the row."""
    row.attempts = max(0, row.attempts - 1)
    row.status = StageStatus.PENDING
    row.task_id = None
    row.started_at = None
    row.error_code = code
    if isinstance(row, StageRun):  # batches keep a code only
        row.error_message = message[:1000]
