"""The reconciler: finds documents whose stage made no progress and acts.

Celery on Redis delivers at least once, and a Redis restart without persistence
loses queued messages. The reconciler re-sends the chain for any document that has
made no progress for longer than its stage's time limit, and the stage runner
drops every message that is not for the document's current stage, so duplicates
are harmless. When the broker itself lost its data (aegis/pipeline/brokerloss.py),
``after_broker_loss`` sends every affected document again at once instead.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from aegis.config import Settings
from aegis.persistence.models import Batch, Document, StageRun, as_utc, utcnow
from aegis.pipeline.batches import OPEN
from aegis.pipeline.chain import fail_document
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.vocabulary import ACTIVE_STATUSES, ErrorCode, StageStatus


@dataclass
class ReconcileAction:
    document_id: str
    stage: str
    token: str
    action: str  # "redispatch" | "failed"
    #: For a fanned-out stage: the batch to send again (None: the stage itself).
    batch: int | None = None
    #: The document's trace (its upload's ``traceparent``): the re-send links to it.
    traceparent: str | None = None


def stage_deadline(settings: Settings, stage: str) -> timedelta:
    """How long a stage may go without progress before we act.

    The hard time limit plus a small margin: by then any attempt still "running"
    has been killed by Celery, so re-sending cannot run the stage twice at once.
    """
    return timedelta(seconds=settings.time_limits[stage] + 5)


def reconcile(
    session: Session, settings: Settings, now: datetime | None = None, registry: Registry = REGISTRY
) -> list[ReconcileAction]:
    """Find stuck documents; re-dispatch them, or fail them after too many attempts.

    Returns what must be sent; the caller sends chains after committing, so a
    crash between the two only delays the next reconcile.
    """
    now = now or utcnow()
    actions: list[ReconcileAction] = []
    shortest = min(stage_deadline(settings, s) for s in registry.names)
    # Stage runs come with the candidates in one more query (not one per document), and
    # nothing is flushed until the loop ends: with hundreds of documents stuck after a
    # broker restart the scan costs a few round trips, not three per document.
    candidates: Sequence[Document] = session.scalars(
        select(Document)
        .options(selectinload(Document.stage_runs))
        .where(
            Document.status.in_(ACTIVE_STATUSES),
            Document.progress_at < now - shortest,
            # A document still waiting for admission has no message to lose.
            Document.admitted_at.is_not(None),
        )
        .order_by(Document.progress_at)
        .limit(500)
        .with_for_update(skip_locked=True)
    ).all()
    with session.no_autoflush:
        for document in candidates:
            _reconcile_document(session, settings, now, registry, document, actions)
    actions.extend(_dead_batches(session, settings, now, registry))
    return actions


def _reconcile_document(
    session: Session, settings: Settings, now: datetime, registry: Registry, document: Document,
    actions: list[ReconcileAction],
) -> None:
    """Re-send one candidate's stage (or its open batches), or fail it after too many attempts."""
    stage = document.stage or registry.first.name
    progress_at = as_utc(document.progress_at)
    if progress_at >= now - stage_deadline(settings, stage):
        return
    if registry.get(stage).fans_out:
        stale = _open_batches(session, document.id, stage)
        if stale:
            # Re-send only the batches still open; a batch past its attempts is
            # ended by its own task, so the join still happens exactly once.
            document.progress_at = now
            document.enqueue_count += 1
            actions.extend(
                ReconcileAction(
                    document.id, stage, document.dispatch_token, "redispatch", batch=i,
                    traceparent=document.traceparent,
                )
                for i in stale
            )
            return
    run = next((r for r in document.stage_runs if r.stage == stage), None)
    if run is not None and run.status == StageStatus.RUNNING and run.attempts >= settings.max_attempts:
        fail_document(
            document, run, ErrorCode.WORKER_LOST,
            f"The {stage} stage was interrupted {run.attempts} times "
            "(worker crash or lost connection); giving up.",
            rejected=False, now=now,
        )
        actions.append(ReconcileAction(document.id, stage, document.dispatch_token, "failed"))
        return
    document.progress_at = now
    document.enqueue_count += 1
    actions.append(ReconcileAction(
        document.id, stage, document.dispatch_token, "redispatch", traceparent=document.traceparent
    ))


def _dead_batches(session: Session, settings: Settings, now: datetime, registry: Registry) -> list[ReconcileAction]:
    """Batches claimed longer ago than their hard limit: the worker holding them died.

    Found while the document's other batches still make progress, so one killed
    worker does not hold a long scan until everything else has finished. The batch
    goes back to ``pending`` so the re-sent task can claim it; the attempt counter
    it keeps still bounds a batch that kills every worker it meets.
    """
    actions: list[ReconcileAction] = []
    for spec in registry:
        if not spec.fans_out:
            continue
        rows = session.execute(
            select(Batch, Document.dispatch_token, Document.traceparent)
            .join(Document, Document.id == Batch.document_id)
            .where(
                Batch.stage == spec.name, Batch.status == StageStatus.RUNNING,
                Batch.started_at < now - stage_deadline(settings, spec.name),
                Document.stage == spec.name, Document.status.in_(ACTIVE_STATUSES),
            )
            .limit(500)
            .with_for_update(of=Batch, skip_locked=True)
        ).all()
        for batch, token, traceparent in rows:
            batch.status = StageStatus.PENDING
            batch.task_id = None
            actions.append(ReconcileAction(
                batch.document_id, spec.name, token, "redispatch", batch=batch.index, traceparent=traceparent
            ))
    return actions


def _open_batches(session: Session, document_id: str, stage: str) -> list[int]:
    return list(session.scalars(
        select(Batch.index).where(
            Batch.document_id == document_id, Batch.stage == stage, Batch.status.in_(OPEN)
        ).order_by(Batch.index)
    ))


#: Documents sent again per pass after a broker loss; the rest follow on the next passes.
RESEND_PER_PASS = 2000


def after_broker_loss(
    session: Session, before: datetime, active_tasks: Collection[str], now: datetime | None = None,
    registry: Registry = REGISTRY, limit: int = RESEND_PER_PASS,
) -> tuple[list[ReconcileAction], bool]:
    """Every in-flight document whose message the lost broker held: send it again now.

    ``before``: documents that moved on later were (re)sent to the broker as it is now,
    so their messages are safe. ``active_tasks``: task ids the workers report running;
    those documents are left alone. A stage or batch still marked running by a task no
    worker runs was cancelled when its worker lost the broker connection (see
    ``worker_cancel_long_running_tasks_on_connection_loss``): it is released so the new
    message can claim it, and the interrupted attempt is not counted against the
    document, since the broker, not the document, was at fault.

    Returns the actions and whether every affected document has now been handled.
    """
    now = now or utcnow()
    actions: list[ReconcileAction] = []
    documents: Sequence[Document] = session.scalars(
        select(Document)
        .where(
            Document.status.in_(ACTIVE_STATUSES), Document.progress_at < before,
            # A document still waiting for admission had no message in the broker.
            Document.admitted_at.is_not(None),
        )
        .order_by(Document.progress_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for document in documents:
        stage = document.stage or registry.first.name
        run = next((r for r in document.stage_runs if r.stage == stage), None)
        if run is not None and run.status == StageStatus.RUNNING and run.task_id in active_tasks:
            continue  # running on a worker right now: it will move the document on itself
        batches: list[Batch] = []
        if registry.get(stage).fans_out:
            batches = list(session.scalars(
                select(Batch).where(Batch.document_id == document.id, Batch.stage == stage, Batch.status.in_(OPEN))
                .order_by(Batch.index).with_for_update()
            ))
        if batches:
            lost = [b for b in batches if not (b.status == StageStatus.RUNNING and b.task_id in active_tasks)]
            for batch in lost:
                _release(batch)
            actions.extend(
                ReconcileAction(
                    document.id, stage, document.dispatch_token, "redispatch", batch=b.index,
                    traceparent=document.traceparent,
                )
                for b in lost
            )
        else:
            if run is not None and run.status == StageStatus.RUNNING:
                _release(run)
            actions.append(ReconcileAction(
                document.id, stage, document.dispatch_token, "redispatch", traceparent=document.traceparent
            ))
        document.progress_at = now
        document.enqueue_count += 1
    return actions, len(documents) < limit


def _release(row: StageRun | Batch) -> None:
    """A claim whose task died with the broker connection: free it, uncount the attempt."""
    row.status = StageStatus.PENDING
    row.task_id = None
    row.started_at = None
    row.attempts = max(0, row.attempts - 1)
