"""The chain builder and the document's stage bookkeeping.

PostgreSQL is the record of truth: every document row says which stage it waits
for (``documents.stage``) and when it last made progress (``progress_at``). The
stage order comes from the registry; messages carry ids only.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from aegis.persistence.models import Document, StageRun, as_utc, new_id, utcnow
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.vocabulary import DocumentStatus, ErrorCode, StageStatus

if TYPE_CHECKING:
    from celery import Celery
    from celery.canvas import Signature


def build_chain(
    app: Celery, document_id: str, token: str, start: str | None = None, registry: Registry = REGISTRY,
    priority: int | None = None,
) -> Signature:
    """The registry's stages from ``start`` on, each task on its own queue.

    Signatures are immutable: a stage's return value is not passed on, because
    every stage reads what it needs from the database by document id. Each carries
    the document's ``priority`` (``aegis/pipeline/priority.py``), so every later stage's
    message keeps it, also when the next stage is sent early (``tasks/base.py``).
    """
    from celery import chain

    specs = registry.from_(start or registry.first.name)
    extra = {} if priority is None else {"priority": priority}
    return chain(*(
        app.signature(s.task_name, args=(document_id, token), immutable=True, queue=s.queue, **extra) for s in specs
    ))


def pending_runs(registry: Registry = REGISTRY) -> list[StageRun]:
    """One pending run per stage, for a new document's ``stage_runs``.

    Given to the document before its first flush, the collection is in memory
    from the start: the answer to an upload lists the stages without a second
    query (and a second connection) after the commit.
    """
    return [StageRun(stage=stage, status=StageStatus.PENDING) for stage in registry.names]


def create_stage_runs(session: Session, document: Document, registry: Registry = REGISTRY) -> None:
    for stage in registry.names:
        session.add(StageRun(document_id=document.id, stage=stage, status=StageStatus.PENDING))


def reset_for_reprocess(session: Session, document: Document, registry: Registry = REGISTRY) -> None:
    """Put a document back at the start with a new token (older messages go stale)."""
    document.dispatch_token = new_id()
    document.status = DocumentStatus.QUEUED
    # Back in line: admission sends it again when its tenant has room (aegis/pipeline/admission.py).
    document.admitted_at = None
    document.stage = registry.first.name
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
        run.pages_total = run.pages_done = None
    document.warnings = None


def send(
    app: Celery, document_id: str, token: str, start: str, registry: Registry = REGISTRY, priority: int | None = None,
) -> None:
    build_chain(app, document_id, token, start, registry, priority).apply_async()


def send_batches(
    app: Celery, document_id: str, token: str, stage: str, indexes: list[int], registry: Registry = REGISTRY,
    priority: int | None = None,
) -> None:
    """One task per batch of a fanned-out stage, on the stage's queue, at the document's priority."""
    spec = registry.get(stage)
    extra = {} if priority is None else {"priority": priority}
    for index in indexes:
        app.send_task(spec.batch_task_name, args=(document_id, token, index), queue=spec.queue, **extra)


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


def describe_runs(document: Document, registry: Registry = REGISTRY) -> dict[str, Any]:
    """The ``stages`` object of the API, keyed by stage name, in pipeline order."""
    runs = {r.stage: r for r in document.stage_runs}
    out: dict[str, Any] = {}
    for stage in registry.names:
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
        if run.pages_total is not None:
            # A fanned-out stage (OCR) reports its progress in pages.
            out[stage].update(pages_total=run.pages_total, pages_done=run.pages_done or 0)
    return out


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None
