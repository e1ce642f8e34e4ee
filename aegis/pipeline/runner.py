"""Runs one stage for one document, effectively once.

The three steps are separate transactions on purpose: ``begin`` claims the stage
(attempt counter, worker, task id), the stage function runs with no transaction
open (it may take minutes), and ``finish`` stores the outputs and advances the
document only if the document is still at this stage with the same token. A
duplicate, stale or late message therefore never writes anything twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import timedelta
from enum import StrEnum
from typing import Any, cast

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Row, Table, and_, bindparam, inspect, not_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload, make_transient_to_detached

from aegis.config import Settings
from aegis.formats.base import DocumentError
from aegis.observability import tracing
from aegis.observability.metrics import metrics
from aegis.persistence.db import session_scope
from aegis.persistence.models import Document, StageRun, Tenant, utcnow
from aegis.persistence.storage import BlobMissing, StorageError, open_store
from aegis.pipeline.batches import fan_out
from aegis.pipeline.chain import fail_document
from aegis.pipeline.claims import claim, held_elsewhere, held_elsewhere_clause, unclaim
from aegis.pipeline.errors import TransientError
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.pipeline.stage import NO_FILE, DocumentView, FanOutPlan
from aegis.services import events
from aegis.vocabulary import ACTIVE_STATUSES, ERRORS, DocumentStatus, ErrorCode, ErrorKind, StageStatus

log = logging.getLogger("aegis.pipeline.runner")


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"  # stage done, the chain goes on
    DROPPED = "dropped"  # stale or duplicate message; the chain stops here
    REJECTED = "rejected"  # the file is at fault; the chain stops
    FAILED = "failed"  # we could not finish; the chain stops
    FANNED_OUT = "fanned_out"  # batches were sent; the chain goes on from the join


#: Built once: composing the statement and its loader option cost more CPU per call
#: than SQLAlchemy's compiled-statement cache saves.
_LOCK_DOCUMENT = (
    select(Document)
    .where(Document.id == bindparam("document_id"))
    .options(joinedload(Document.stage_runs))
    .with_for_update(of=Document)
)


def _lock_document(session: Session, document_id: str) -> Document | None:
    """The document row, locked, with its stage runs: one round trip, not two.

    ``FOR UPDATE OF documents`` locks the document row only (PostgreSQL refuses
    to lock the nullable side of the outer join); the runs are read under that
    lock, which every writer of a run takes first.
    """
    return session.scalars(_LOCK_DOCUMENT, {"document_id": document_id}).unique().one_or_none()


_DOCUMENTS = cast(Table, Document.__table__)
_RUNS = cast(Table, StageRun.__table__)
_TENANTS = cast(Table, Tenant.__table__)
#: (attribute, column name) of every column of a document: ``doc_metadata`` is stored as "metadata".
_DOCUMENT_ATTRS = [(attr.key, attr.columns[0].name) for attr in inspect(Document).column_attrs]


def _claim_statement() -> Any:
    """The happy path of :func:`_begin` as one statement (PostgreSQL): lock, check, claim, return.

    The document row is locked first (``FOR UPDATE`` in the first CTE, so a
    concurrent reconciler or finish is waited for and its commit seen), then the
    stage run is claimed only if every check of ``_begin`` passes: token, active
    status, the document at this stage, not held by another live task, attempts
    below the limit. No row back means one of them failed, and ``_begin``'s ORM
    path finds out which (drop, or end the document at the attempt limit).

    The row also carries the tenant's page quota (``tenant_max_pages_per_day``, a
    primary-key lookup inside the same statement), the metadata stage's only input:
    its claim then needs no transaction and no second read either.
    """
    d, r = _DOCUMENTS.c, _RUNS.c
    quota = (
        select(_TENANTS.c.max_pages_per_day).where(_TENANTS.c.id == d.tenant_id)
        .scalar_subquery().label("tenant_max_pages_per_day")
    )
    doc = (
        select(d.id)
        .where(d.id == bindparam("p_document_id"), d.dispatch_token == bindparam("p_token"),
               d.stage == bindparam("p_stage"), d.status.in_([str(s) for s in ACTIVE_STATUSES]))
        .with_for_update()
        .cte("locked")
    )
    run = (
        update(_RUNS)
        .where(r.document_id == doc.c.id, r.stage == bindparam("p_stage"),
               r.attempts < bindparam("p_max_attempts"),
               not_(held_elsewhere_clause(_RUNS, bindparam("p_task_id"), bindparam("p_held_since"))))
        .values(attempts=r.attempts + 1, status=StageStatus.RUNNING.value, task_id=bindparam("p_task_id"),
                worker=bindparam("p_worker"), started_at=bindparam("p_now"), finished_at=None, duration_ms=None)
        .returning(r.document_id, r.attempts)
        .cte("claimed")
    )
    return (
        update(_DOCUMENTS)
        .where(d.id == run.c.document_id)
        .values(status=DocumentStatus.PROCESSING.value, progress_at=bindparam("p_now"),
                updated_at=bindparam("p_now"))
        .returning(*_DOCUMENTS.c, run.c.attempts, quota)
    )


def _finish_lock_statement() -> Any:
    """The checks of a finish as one locking read (PostgreSQL): the document, if this task may finish.

    Locks the document only if it is still at this stage with this token and this
    task still holds the stage's run; returns the document's row for the stage's
    ``save``. No row back means the result is dropped (the ORM path says why).
    """
    d, r = _DOCUMENTS.c, _RUNS.c
    return (
        select(*_DOCUMENTS.c)
        .join(_RUNS, and_(r.document_id == d.id, r.stage == bindparam("p_stage")))
        .where(d.id == bindparam("p_document_id"), d.dispatch_token == bindparam("p_token"),
               d.stage == bindparam("p_stage"), r.task_id == bindparam("p_task_id"))
        .with_for_update(of=_DOCUMENTS)
    )


def _finish_write_statement(document: Document) -> Any:
    """End the run and store the document's changed columns in one statement (PostgreSQL).

    The run's UPDATE is a data-modifying CTE, which PostgreSQL runs whether or not
    the main statement reads it. The document's changes are what ``save`` and the
    runner set on the detached object (its attribute history), so nothing is
    flushed a second time by the ORM.
    """
    r = _RUNS.c
    state = inspect(document)
    changed = {}
    for key, name in _DOCUMENT_ATTRS:
        added = state.attrs[key].history.added
        if added:
            changed[_DOCUMENTS.c[name]] = added[0]
    ended = (
        update(_RUNS)
        .where(r.document_id == bindparam("p_document_id"), r.stage == bindparam("p_stage"),
               r.task_id == bindparam("p_task_id"))  # checked under the lock already; kept as a guard
        .values(status=bindparam("p_status"), finished_at=bindparam("p_now"), duration_ms=bindparam("p_duration"),
                error_code=None, error_message=None)
        .returning(r.id)
        .cte("ended")
    )
    return update(_DOCUMENTS).where(_DOCUMENTS.c.id == bindparam("p_document_id")).values(changed).add_cte(ended)


#: Built once, like ``_LOCK_DOCUMENT``.
_CLAIM = _claim_statement()
_FINISH_LOCK = _finish_lock_statement()


def _one_statement(session: Session) -> bool:
    """Claim and finish in one statement each: PostgreSQL only (SQLite has no data-modifying CTEs)."""
    return session.get_bind().dialect.name == "postgresql"


def _claim_params(
    settings: Settings, stage: str, document_id: str, token: str, task_id: str, worker: str
) -> dict[str, Any]:
    now = utcnow()
    return {
        "p_document_id": document_id, "p_token": token, "p_stage": stage, "p_task_id": task_id,
        "p_worker": worker, "p_now": now, "p_max_attempts": settings.max_attempts,
        "p_held_since": now - timedelta(seconds=settings.time_limits[stage]),
    }


def _claim_alone(
    session: Session, settings: Settings, impl: Any, stage: str, document_id: str, token: str, task_id: str,
    worker: str,
) -> tuple[DocumentView, Any] | None:
    """The claim of a stage whose inputs come with it (``loads_from_claim``) on PostgreSQL: one statement, alone.

    One statement is atomic without BEGIN and COMMIT around it, and such a stage
    (a file stage, metadata) reads nothing else in its claim, so this is one round
    trip instead of three or more. ``None`` when a check failed (nothing was
    written) or on SQLite: ``_begin`` decides then, in a transaction, exactly as before.
    """
    if not _one_statement(session):
        return None
    connection = session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    row = connection.execute(_CLAIM, _claim_params(settings, stage, document_id, token, task_id, worker)).one_or_none()
    if row is None:
        return None
    return DocumentView.of(_claimed(row)), impl.inputs_from_claim(row._mapping)


def _claimed(row: Row[Any]) -> Document:
    """The document of a successful claim statement's row, noted on the task's trace."""
    document = _document_of(row)
    tracing.annotate(tenant=document.tenant_id, attempt=row.attempts)
    return document


def _document_of(row: Row[Any]) -> Document:
    """A detached document holding ``row``'s values as if loaded: no second read for ``load`` or ``save``."""
    values = row._mapping
    document = Document(**{key: values[name] for key, name in _DOCUMENT_ATTRS})
    make_transient_to_detached(document)
    return document


def _run_for(document: Document, stage: str) -> StageRun:
    for run in document.stage_runs:
        if run.stage == stage:
            return run
    run = StageRun(document_id=document.id, stage=stage, status=StageStatus.PENDING)
    document.stage_runs.append(run)
    return run


def execute(
    settings: Settings, stage: str, document_id: str, token: str, *, task_id: str, worker: str,
    registry: Registry = REGISTRY, on_advance: Callable[[], None] | None = None,
) -> Outcome:
    """Claim, run and record ``stage`` for ``document_id``.

    ``on_advance`` is called as soon as the finishing transaction has committed a
    move to a next stage, before the stage's event and log line: the worker sends
    the next stage's message there, so the handoff waits for nothing that the
    next stage does not need.
    """
    impl = registry.impl(stage)
    started = time.monotonic()
    # Claim and finish commit without waiting for the WAL flush (durable=False): a
    # PostgreSQL crash can lose the last fraction of a second of them, and the
    # reconciler re-drives a stage whose claim or finish was lost (stages are
    # idempotent; a lost claim's finish is dropped by its task id check). The
    # finish that ends the document is durable: its webhook and SSE end follow.
    alone = None
    if impl.loads_from_claim:
        with session_scope(settings, durable=False) as session:
            alone = _claim_alone(session, settings, impl, stage, document_id, token, task_id, worker)
    if alone is not None:
        info, inputs = alone
    else:
        with session_scope(settings, durable=False) as session:
            # A stage that claimed alone has run the claim statement already: its check failed.
            claim = _begin(session, settings, stage, document_id, token, task_id, worker, registry,
                           statement_tried=impl.loads_from_claim)
            if isinstance(claim, Outcome):
                return claim
            info, inputs = claim
    events.publish(settings, info.tenant_id, info.id, stage, "started")
    try:
        # A bucket's object is read into a temporary file deleted when the block ends.
        copy = open_store(settings).local_copy(info.tenant_id, info.sha256) if impl.reads_file else nullcontext(NO_FILE)
        with copy as blob:
            result = impl.run(settings, info, blob, inputs)
    except BlobMissing:
        return _end(settings, stage, info, token, ErrorCode.BLOB_MISSING)
    except StorageError as exc:
        # The store is down, not the file at fault: this try does not count against the document.
        release(settings, stage, document_id, token, task_id, f"{type(exc).__name__}: {exc}")
        raise TransientError(
            str(exc), retry_after=getattr(exc, "retry_after", None), code=ErrorCode.STORAGE_UNAVAILABLE
        ) from exc
    except DocumentError as exc:
        return _end(settings, stage, info, token, exc.code, exc.message, rejected=exc.rejected)
    except SoftTimeLimitExceeded:
        return _end(
            settings, stage, info, token, ErrorCode.TIMEOUT,
            f"The {stage} stage took longer than its {settings.time_limits[stage]} s limit.",
        )
    except RecursionError:
        return _end(settings, stage, info, token, ErrorCode.NESTING_TOO_DEEP,
                    "The file is nested too deeply to be processed safely.")
    except MemoryError:
        return _end(settings, stage, info, token, ErrorCode.TOO_COMPLEX)
    except (TransientError, OperationalError):
        raise  # the task retries with backoff; the attempt counter bounds it
    except Exception:
        # A bug of ours, not the file's: fail now with a clear code instead of
        # letting the reconciler retry the same crash until `worker_lost`.
        log.exception("stage crashed", extra=_ctx(info.id, stage, info.tenant_id))
        return _end(settings, stage, info, token, ErrorCode.INTERNAL_ERROR,
                    f"An unexpected error stopped the {stage} stage; it has been logged.")
    elapsed_ms = int((time.monotonic() - started) * 1000)
    with session_scope(settings, durable=registry.next(stage) is None) as session:
        fans_out = isinstance(result, FanOutPlan) and bool(result.batches)
        row = None
        if not fans_out and _one_statement(session):
            row = session.execute(_FINISH_LOCK, {
                "p_document_id": document_id, "p_token": token, "p_stage": stage, "p_task_id": task_id,
            }).one_or_none()
        if row is not None:
            # Detached: the stage's outputs go out as its own statements, the document's
            # changes with the run's end in one statement, never through an ORM flush.
            document = _document_of(row)
            impl.save(session, document, result)
            now = utcnow()
            document.progress_at = now
            document.updated_at = now
            following = registry.next(stage)
            document.stage = following
            if following is None:
                document.status = DocumentStatus.SUCCEEDED
            session.execute(_finish_write_statement(document), {
                "p_document_id": document_id, "p_stage": stage, "p_task_id": task_id, "p_now": now,
                "p_duration": elapsed_ms,
                "p_status": (StageStatus.SKIPPED if isinstance(result, FanOutPlan) else StageStatus.SUCCEEDED).value,
            })
        else:
            locked = _lock_document(session, document_id)
            if locked is None or locked.dispatch_token != token or locked.stage != stage:
                log.info("stage result discarded: document moved on", extra=_ctx(document_id, stage))
                return Outcome.DROPPED
            run = _run_for(locked, stage)
            if run.task_id != task_id:
                # The claim was released (broker lost) and a re-sent message took over;
                # its result counts, so a fan-out is never planned twice.
                log.info("stage result discarded: another task holds the stage", extra=_ctx(document_id, stage))
                return Outcome.DROPPED
            following = _finish_orm(session, impl, locked, run, stage, result, registry, utcnow(), elapsed_ms)
    if following == stage:
        assert isinstance(result, FanOutPlan)
        events.publish(settings, info.tenant_id, info.id, stage, "progress", pages_done=0,
                       pages_total=result.units, batches=len(result.batches))
        log.info("stage fanned out into %d batches", len(result.batches), extra=_ctx(document_id, stage))
        return Outcome.FANNED_OUT
    if following is not None and on_advance is not None:
        on_advance()
    ended: list[tuple[str | None, str, dict[str, Any]]] = [(stage, "succeeded", {"duration_ms": elapsed_ms})]
    if following is None:
        ended.append((None, "document_succeeded", {}))
    events.publish_all(settings, info.tenant_id, info.id, ended)
    log.info("stage succeeded in %d ms", elapsed_ms, extra=_ctx(document_id, stage, info.tenant_id))
    return Outcome.SUCCEEDED


def _finish_orm(
    session: Session, impl: Any, document: Document, run: StageRun, stage: str, result: Any, registry: Registry,
    now: Any, elapsed_ms: int,
) -> str | None:
    """The finish through the ORM: a fan-out, SQLite, and any finish the one statement did not match."""
    impl.save(session, document, result)
    document.progress_at = now
    document.updated_at = now
    if isinstance(result, FanOutPlan) and result.batches:
        # The batches do the work; the last one to end moves the document on.
        fan_out(session, document, run, stage, result)
        return stage
    # A fan-out stage with nothing to do is skipped, not run.
    run.status = StageStatus.SKIPPED if isinstance(result, FanOutPlan) else StageStatus.SUCCEEDED
    run.finished_at = now
    run.duration_ms = elapsed_ms
    run.error_code = run.error_message = None
    following = registry.next(stage)
    document.stage = following
    if following is None:
        document.status = DocumentStatus.SUCCEEDED
    return following


def _begin(
    session: Session, settings: Settings, stage: str, document_id: str, token: str, task_id: str, worker: str,
    registry: Registry, *, statement_tried: bool = False,
) -> Outcome | tuple[DocumentView, Any]:
    if _one_statement(session) and not statement_tried:
        row = session.execute(_CLAIM, _claim_params(settings, stage, document_id, token, task_id, worker)).one_or_none()
        if row is not None:
            claimed = _claimed(row)
            return DocumentView.of(claimed), registry.impl(stage).load(session, claimed)
        # A check failed (or the run row is missing): the ORM path below says which.
    document = _lock_document(session, document_id)
    if document is None or document.dispatch_token != token:
        log.info("stale message dropped", extra=_ctx(document_id, stage))
        return Outcome.DROPPED
    if document.status not in ACTIVE_STATUSES:
        return Outcome.DROPPED
    run = _run_for(document, stage)
    if document.stage != stage:
        # Done already (the chain moved on) or not reached yet: a duplicate.
        return Outcome.DROPPED
    now = utcnow()
    if held_elsewhere(run, task_id, settings.time_limits[stage], now):
        return Outcome.DROPPED  # another worker holds this stage right now
    if run.attempts >= settings.max_attempts:
        code = run.error_code or ErrorCode.WORKER_LOST
        message = run.error_message or (
            f"The {stage} stage was interrupted {run.attempts} times "
            "(worker crash or lost connection); giving up."
        )
        fail_document(document, run, code, message, rejected=False, now=now)
        session.flush()
        events.publish(settings, document.tenant_id, document.id, stage, "failed", code=code)
        return Outcome.FAILED
    claim(run, task_id=task_id, worker=worker, now=now)
    tracing.annotate(tenant=document.tenant_id, attempt=run.attempts)
    run.finished_at = None
    run.duration_ms = None
    document.status = DocumentStatus.PROCESSING
    document.progress_at = now
    document.updated_at = now
    return DocumentView.of(document), registry.impl(stage).load(session, document)


def _end(
    settings: Settings,
    stage: str,
    info: DocumentView,
    token: str,
    code: ErrorCode,
    message: str | None = None,
    *,
    rejected: bool | None = None,
) -> Outcome:
    """Fail or reject the document; ``message`` and ``rejected`` default to the vocabulary's."""
    declared = ERRORS[code]
    message = message or declared.message
    if rejected is None:
        rejected = declared.kind is ErrorKind.REJECTED
    with session_scope(settings) as session:
        document = _lock_document(session, info.id)
        if document is None or document.dispatch_token != token or document.stage != stage:
            return Outcome.DROPPED
        fail_document(document, _run_for(document, stage), code, message, rejected=rejected)
    status = DocumentStatus.REJECTED if rejected else DocumentStatus.FAILED
    tracing.annotate(error_code=str(code))
    metrics().stage_errors.labels(stage, str(code)).inc()
    events.publish(settings, info.tenant_id, info.id, stage, status, code=code, message=message)
    log.info("document %s: %s", status, code, extra=_ctx(info.id, stage, info.tenant_id))
    return Outcome.REJECTED if rejected else Outcome.FAILED


def record_timeout(settings: Settings, stage: str, document_id: str, token: str) -> None:
    """Called in the worker's main process when Celery kills a task at its hard limit."""
    with session_scope(settings) as session:
        document = _lock_document(session, document_id)
        if document is None or document.dispatch_token != token or document.stage != stage:
            return
        info_tenant = document.tenant_id
        fail_document(
            document, _run_for(document, stage), ErrorCode.TIMEOUT,
            f"The {stage} stage took longer than its {settings.time_limits[stage]} s limit and was stopped.",
            rejected=False,
        )
    metrics().stage_errors.labels(stage, ErrorCode.TIMEOUT.value).inc()
    events.publish(settings, info_tenant, document_id, stage, "failed", code=ErrorCode.TIMEOUT)


def release(settings: Settings, stage: str, document_id: str, token: str, task_id: str, message: str) -> None:
    """Give back a claim whose work never started (the blob store was unreachable).

    An outage of the store says nothing about the document, so the attempt is not
    counted: documents wait through an outage of any length instead of failing after
    ``max_attempts`` retries. The task retries with backoff; the reconciler covers a lost retry.
    """
    with session_scope(settings) as session:
        document = _lock_document(session, document_id)
        if document is None or document.dispatch_token != token or document.stage != stage:
            return
        run = _run_for(document, stage)
        if run.task_id == task_id and run.status == StageStatus.RUNNING:
            unclaim(run, ErrorCode.STORAGE_UNAVAILABLE, message)


def record_transient(
    settings: Settings, stage: str, document_id: str, token: str, message: str,
    code: str = ErrorCode.TRANSIENT_ERROR,
) -> None:
    """Note why an attempt failed so the final failure, if it comes, says so."""
    with session_scope(settings) as session:
        document = _lock_document(session, document_id)
        if document is None or document.dispatch_token != token or document.stage != stage:
            return
        run = _run_for(document, stage)
        run.error_code = code
        run.error_message = message[:1000]


def _ctx(document_id: str, stage: str, tenant: str | None = None) -> dict[str, Any]:
    return {"document_id": document_id, "stage": stage, "tenant": tenant}

