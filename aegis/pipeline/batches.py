"""Runs one batch of a fanned-out stage, and joins the stage when the last one ends.

A fanned-out stage (OCR) plans its work in the stage task, which writes one
``batches`` row per batch and sends one task per batch to the stage's queue, so
every worker of that queue takes part in one document. Each batch is claimed and
ended like a stage (attempt counter, task id, separate transactions around the
slow part), and ends in the transaction that locks the document row and counts the
batches still open: exactly one transaction sees the last batch end, runs the
stage's ``join`` and moves the document on. A batch that keeps failing is ended
``failed`` after ``max_attempts``: its units are recorded as not done and the
document goes on without them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aegis.config import Settings
from aegis.formats.base import DocumentError
from aegis.observability import tracing
from aegis.observability.metrics import metrics
from aegis.persistence.db import session_scope
from aegis.persistence.models import Batch, Document, StageRun, as_utc, utcnow
from aegis.persistence.storage import BlobMissing, StorageError, open_store
from aegis.pipeline.chain import fail_document
from aegis.pipeline.claims import claim, held_elsewhere, unclaim
from aegis.pipeline.errors import TransientError
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.pipeline.stage import DocumentView, FanOutPlan, FanOutStage
from aegis.services import events
from aegis.vocabulary import ACTIVE_STATUSES, DocumentStatus, ErrorCode, StageStatus

log = logging.getLogger("aegis.pipeline.batches")

OPEN = (StageStatus.PENDING, StageStatus.RUNNING)


class BatchOutcome(StrEnum):
    DONE = "done"  # this batch ended; others are still open
    JOINED = "joined"  # this batch was the last: the document moved on
    ENDED = "ended"  # the join ended the document (failed, or it was the last stage)
    DROPPED = "dropped"  # stale, duplicate or held by another live task


def fan_out(session: Session, document: Document, run: StageRun, stage: str, plan: FanOutPlan) -> list[int]:
    """Write one pending row per batch (replacing an earlier plan's) and start counting."""
    for old in session.scalars(select(Batch).where(Batch.document_id == document.id, Batch.stage == stage)):
        session.delete(old)
    session.flush()
    for index, units in enumerate(plan.batches):
        session.add(Batch(document_id=document.id, stage=stage, index=index, pages=list(units), status="pending"))
    run.pages_total = plan.units
    run.pages_done = 0
    return list(range(len(plan.batches)))


def open_batches(settings: Settings, document_id: str, stage: str) -> list[int]:
    with session_scope(settings) as session:
        return list(session.scalars(
            select(Batch.index).where(
                Batch.document_id == document_id, Batch.stage == stage, Batch.status.in_(OPEN)
            ).order_by(Batch.index)
        ))


def _lock(
    session: Session, document_id: str, stage: str, index: int, token: str, wanted: tuple[str, ...]
) -> tuple[Document, Batch] | None:
    """The document and the batch, locked, if the message is still current and the batch's
    status is one of ``wanted``; else None (the message is stale or a duplicate).

    Lock order everywhere: the document row, then the batch row.
    """
    document = session.scalars(select(Document).where(Document.id == document_id).with_for_update()).one_or_none()
    batch = session.scalars(
        select(Batch).where(Batch.document_id == document_id, Batch.stage == stage, Batch.index == index)
        .with_for_update()
    ).one_or_none()
    if document is None or batch is None or not _current(document, stage, token) or batch.status not in wanted:
        return None
    return document, batch


def _fan_out_stage(registry: Registry, stage: str) -> FanOutStage[Any, Any]:
    impl = registry.impl(stage)
    if not isinstance(impl, FanOutStage):
        raise TypeError(f"stage {stage!r} does not fan out")
    return impl


def _current(document: Document, stage: str, token: str) -> bool:
    return document.dispatch_token == token and document.stage == stage and document.status in ACTIVE_STATUSES


Announcement = tuple[str, str, str | None, str, dict[str, Any]]


@contextmanager
def _transaction(settings: Settings) -> Iterator[tuple[Session, list[Announcement]]]:
    """A transaction whose events are published only once it has committed.

    A client that re-reads the document on an event must find what the event says.
    """
    announce: list[Announcement] = []
    with session_scope(settings) as session:
        yield session, announce
    for tenant, doc_id, stage, event, extra in announce:
        events.publish(settings, tenant, doc_id, stage, event, **extra)


def execute_batch(
    settings: Settings, stage: str, document_id: str, token: str, index: int, *, task_id: str, worker: str,
    registry: Registry = REGISTRY,
) -> tuple[BatchOutcome, str | None]:
    """Claim, run and end batch ``index``; returns the outcome and, when joined, the next stage."""
    impl = _fan_out_stage(registry, stage)
    with _transaction(settings) as (session, announce):
        locked = _lock(session, document_id, stage, index, token, OPEN)
        if locked is None:
            return BatchOutcome.DROPPED, None
        document, batch = locked
        now = utcnow()
        if held_elsewhere(batch, task_id, settings.time_limits[stage], now):
            return BatchOutcome.DROPPED, None  # another worker holds it right now
        if batch.attempts >= settings.max_attempts:
            # Crashed (or timed out) on every attempt: go on without these units.
            return _finish(
                settings, session, announce, impl, document, batch, stage, None, ErrorCode.WORKER_LOST, registry
            )
        claim(batch, task_id=task_id, worker=worker, now=now)
        document.progress_at = now
        view = DocumentView.of(document)
        units = list(batch.pages)
        tracing.annotate(tenant=view.tenant_id, attempt=batch.attempts, units=len(units))
    started = time.monotonic()
    result: Any = None
    code: ErrorCode | None = None
    try:
        with open_store(settings).local_copy(view.tenant_id, view.sha256) as blob:
            result = impl.run_batch(settings, view, blob, units)
    except BlobMissing:
        code = ErrorCode.BLOB_MISSING
    except StorageError as exc:
        # The store is down: give the claim back uncounted and let the task retry later.
        _release(settings, document_id, stage, index, token, task_id, f"{type(exc).__name__}: {exc}")
        raise TransientError(
            str(exc), retry_after=getattr(exc, "retry_after", None), code=ErrorCode.STORAGE_UNAVAILABLE
        ) from exc
    except SoftTimeLimitExceeded:
        code = ErrorCode.OCR_TIMEOUT
    except DocumentError as exc:
        code = exc.code
    except MemoryError:
        code = ErrorCode.TOO_COMPLEX
    except TransientError:
        raise
    except Exception:  # noqa: BLE001 - a bug of ours: record it on the units, keep the document going
        log.exception("batch crashed", extra={"document_id": document_id, "stage": stage})
        code = ErrorCode.INTERNAL_ERROR
    tracing.annotate(error_code=str(code) if code else None)
    metrics().stage_units.labels(stage, "failed" if code else "succeeded").inc(len(units))
    log.info("batch %d (%d units) ran in %d ms", index, len(units), int((time.monotonic() - started) * 1000),
             extra={"document_id": document_id, "stage": stage})
    with _transaction(settings) as (session, announce):
        locked = _lock(session, document_id, stage, index, token, (StageStatus.RUNNING,))
        if locked is None or locked[1].task_id != task_id:
            return BatchOutcome.DROPPED, None  # a redelivery took over; its result counts
        document, batch = locked
        return _finish(settings, session, announce, impl, document, batch, stage, result, code, registry)


def _release(
    settings: Settings, document_id: str, stage: str, index: int, token: str, task_id: str, message: str
) -> None:
    with session_scope(settings) as session:
        locked = _lock(session, document_id, stage, index, token, (StageStatus.RUNNING,))
        if locked is not None and locked[1].task_id == task_id:
            unclaim(locked[1], ErrorCode.STORAGE_UNAVAILABLE, message)


def _finish(
    settings: Settings, session: Session, announce: list[Announcement], impl: FanOutStage[Any, Any],
    document: Document, batch: Batch, stage: str, result: Any, code: str | None, registry: Registry,
) -> tuple[BatchOutcome, str | None]:
    now = utcnow()
    units = list(batch.pages)
    if code is None:
        impl.save_batch(session, document, units, result)
        batch.status = StageStatus.SUCCEEDED
    else:
        impl.fail_batch(session, document, units, code)
        batch.status = StageStatus.FAILED
        batch.error_code = code
    batch.finished_at = now
    run = next(r for r in document.stage_runs if r.stage == stage)
    run.pages_done = (run.pages_done or 0) + len(units)
    document.progress_at = now
    document.updated_at = now
    session.flush()
    still_open = session.scalar(
        select(func.count()).select_from(Batch).where(
            Batch.document_id == document.id, Batch.stage == stage, Batch.status.in_(OPEN)
        )
    )
    tenant, doc_id = document.tenant_id, document.id
    announce.append((tenant, doc_id, stage, "progress",
                     {"pages_done": run.pages_done, "pages_total": run.pages_total}))
    if still_open:
        return BatchOutcome.DONE, None
    try:
        impl.join(settings, session, document)
    except DocumentError as exc:
        fail_document(document, run, exc.code, exc.message, rejected=exc.rejected, now=now)
        announce.append((tenant, doc_id, stage, "failed", {"code": exc.code, "message": exc.message}))
        return BatchOutcome.ENDED, None
    run.status = StageStatus.SUCCEEDED
    run.finished_at = now
    if run.started_at is not None:
        run.duration_ms = int((now - as_utc(run.started_at)).total_seconds() * 1000)
    run.error_code = run.error_message = None
    following = registry.next(stage)
    document.stage = following
    if following is None:
        document.status = DocumentStatus.SUCCEEDED
    announce.append((tenant, doc_id, stage, "succeeded", {"duration_ms": run.duration_ms}))
    if following is None:
        announce.append((tenant, doc_id, None, "document_succeeded", {}))
        return BatchOutcome.ENDED, None
    return BatchOutcome.JOINED, following


def record_batch_timeout(
    settings: Settings, stage: str, document_id: str, token: str, index: int, registry: Registry = REGISTRY
) -> tuple[BatchOutcome, str | None]:
    """End a batch that Celery killed at its hard limit, as if it had failed with a timeout."""
    impl = _fan_out_stage(registry, stage)
    with _transaction(settings) as (session, announce):
        locked = _lock(session, document_id, stage, index, token, (StageStatus.RUNNING,))
        if locked is None:
            return BatchOutcome.DROPPED, None
        document, batch = locked
        return _finish(
            settings, session, announce, impl, document, batch, stage, None, ErrorCode.OCR_TIMEOUT, registry
        )
