"""The stage order, the chain builder and the reconciler.

Celery on Redis delivers at least once, and a Redis restart without persistence
loses queued messages. PostgreSQL is the record of truth: every document row says
which stage it waits for (``documents.stage``) and when it last made progress
(``progress_at``). The reconciler re-sends the chain for any document that has made
no progress for longer than its stage's time limit, and the stage runner drops
every message that is not for the document's current stage, so duplicates are
harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aegis.config import STAGES, Settings
from aegis.persistence.models import Document, StageRun, as_utc, new_id, utcnow
from aegis.vocabulary import ACTIVE_STATUSES, DocumentStatus, ErrorCode, StageStatus

if TYPE_CHECKING:
    from celery import Celery
    from celery.canvas import Signature


def task_name(stage: str) -> str:
    return f"aegis.{stage}"


def next_stage(stage: str) -> str | None:
    index = STAGES.index(stage)
    return STAGES[index + 1] if index + 1 < len(STAGES) else None


def build_chain(app: Celery, document_id: str, token: str, start: str = STAGES[0]) -> Signature:
    """``validate | metadata | content | ai`` from ``start`` on, each on its own queue.

    Signatures are immutable: a stage's return value is not passed on, because
    every stage reads what it needs from the database by document id.
    """
    from celery import chain

    stages = STAGES[STAGES.index(start):]
    return chain(
        *(app.signature(task_name(s), args=(document_id, token), immutable=True, queue=s) for s in stages)
    )


def create_stage_runs(session: Session, document: Document) -> None:
    for stage in STAGES:
        session.add(StageRun(document_id=document.id, stage=stage, status=StageStatus.PENDING))


def reset_for_reprocess(session: Session, document: Document) -> None:
    """Put a document back at the start with a new token (older messages go stale)."""
    document.dispatch_token = new_id()
    document.status = DocumentStatus.QUEUED
    document.stage = STAGES[0]
    document.error_code = None
    document.error_message = None
    document.progress_at = utcnow()
    document.updated_at = utcnow()
    for run in document.stage_runs:
        run.status = StageStatus.PENDING
        run.attempts = 0
        run.started_at = run.finished_at = None
        run.duration_ms = None
        run.worker = run.task_id = None
        run.error_code = run.error_message = None


def send(app: Celery, document_id: str, token: str, start: str) -> None:
    build_chain(app, document_id, token, start).apply_async()


@dataclass
class ReconcileAction:
    document_id: str
    stage: str
    token: str
    action: str  # "redispatch" | "failed"


def stage_deadline(settings: Settings, stage: str) -> timedelta:
    """How long a stage may go without progress before we act.

    The hard time limit plus a small margin: by then any attempt still "running"
    has been killed by Celery, so re-sending cannot run the stage twice at once.
    """
    return timedelta(seconds=settings.time_limits[stage] + 5)


def reconcile(session: Session, settings: Settings, now: datetime | None = None) -> list[ReconcileAction]:
    """Find stuck documents; re-dispatch them, or fail them after too many attempts.

    Returns what must be sent; the caller sends chains after committing, so a
    crash between the two only delays the next reconcile.
    """
    now = now or utcnow()
    actions: list[ReconcileAction] = []
    shortest = min(stage_deadline(settings, s) for s in STAGES)
    candidates: Sequence[Document] = session.scalars(
        select(Document)
        .where(Document.status.in_(ACTIVE_STATUSES), Document.progress_at < now - shortest)
        .order_by(Document.progress_at)
        .limit(500)
        .with_for_update(skip_locked=True)
    ).all()
    for document in candidates:
        stage = document.stage or STAGES[0]
        progress_at = as_utc(document.progress_at)
        if progress_at >= now - stage_deadline(settings, stage):
            continue
        run = next((r for r in document.stage_runs if r.stage == stage), None)
        if run is not None and run.status == StageStatus.RUNNING and run.attempts >= settings.max_attempts:
            fail_document(
                document, run, ErrorCode.WORKER_LOST,
                f"The {stage} stage was interrupted {run.attempts} times "
                "(worker crash or lost connection); giving up.",
                rejected=False, now=now,
            )
            actions.append(ReconcileAction(document.id, stage, document.dispatch_token, "failed"))
            continue
        document.progress_at = now
        document.enqueue_count += 1
        actions.append(ReconcileAction(document.id, stage, document.dispatch_token, "redispatch"))
    return actions


def fail_document(
    document: Document,
    run: StageRun | None,
    code: ErrorCode | str,
    message: str,
    *,
    rejected: bool,
    now: datetime | None = None,
) -> None:
    """End a document as ``rejected`` (its fault) or ``failed`` (ours), with a reason.

    ``code`` may be a plain string: a retry's last error is read back from the
    database, which may hold codes from an older release.
    """
    now = now or utcnow()
    document.status = DocumentStatus.REJECTED if rejected else DocumentStatus.FAILED
    document.error_code = code
    document.error_message = message
    document.stage = None
    document.updated_at = now
    document.progress_at = now
    if run is not None:
        run.status = StageStatus.FAILED
        run.error_code = code
        run.error_message = message
        run.finished_at = now
        if run.started_at is not None:
            run.duration_ms = int((now - as_utc(run.started_at)).total_seconds() * 1000)
    for other in document.stage_runs:
        if other.status == StageStatus.PENDING:
            other.status = StageStatus.SKIPPED


def describe_runs(document: Document) -> dict[str, Any]:
    """The ``stages`` object of the API, keyed by stage name, in pipeline order."""
    runs = {r.stage: r for r in document.stage_runs}
    out: dict[str, Any] = {}
    for stage in STAGES:
        run = runs.get(stage)
        if run is None:
            continue
        out[stage] = {
            "status": run.status,
            "attempts": run.attempts,
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "duration_ms": run.duration_ms,
            "error": {"code": run.error_code, "message": run.error_message} if run.error_code else None,
        }
    return out


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None
