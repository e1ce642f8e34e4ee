"""Document lifecycle outside the stages: intake, lookup, listing, reprocess, delete.

The web gateway and the CLI both call these; they hold no HTTP or Celery detail.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, String, bindparam, delete, func, insert, literal, select, true
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from aegis.observability import tracing
from aegis.persistence.models import Batch, Chunk, Document, PageText, StageRun, Tenant, as_utc, new_id, utcnow
from aegis.pipeline.chain import describe_runs, reset_for_reprocess
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.vocabulary import DocumentStatus, StageStatus

# The `status=` filter accepts these; declared in aegis.vocabulary.
STATUSES: tuple[str, ...] = tuple(DocumentStatus)

# Ids are ``str(uuid.uuid4())``. Anything else (a NUL byte, 10 kB of junk) must be
# turned away before it reaches PostgreSQL, which refuses NUL in text with an error.
_DOCUMENT_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class InvalidCursor(ValueError):
    pass


@dataclass
class Intake:
    document: Document
    duplicate: bool


def find_by_sha(session: Session, tenant_id: str, sha256: str) -> Document | None:
    return session.scalars(
        select(Document).where(Document.tenant_id == tenant_id, Document.sha256 == sha256)
    ).first()


# Built once: this runs once per upload, and building a statement costs more CPU than sending it.
_LOCK_FOR_ADMISSION = select(Tenant.id).where(Tenant.id == bindparam("tenant_id")).with_for_update(key_share=True)


def lock_for_admission(session: Session, tenant_id: str) -> None:
    """Take admission's tenant lock (``FOR NO KEY UPDATE``) after an upload's inserts, before its admission.

    Admission plans from counts read without a lock and, once it holds the lock,
    takes any document admitted meanwhile out of its plan. Two uploads of one
    tenant planning at the same time would each give their one slot to the first:
    the second upload's document would wait for the next document end instead of
    being sent. Locking first makes the second upload plan after the first
    commits. The lock is taken after the inserts, so uploads of a tenant queue
    only for admission and the commit, not for their whole transaction; it does not
    conflict with the key-share locks the inserts hold on the tenant row, so it
    cannot deadlock with them. SQLite (one writer at a time) renders no lock.
    """
    session.execute(_LOCK_FOR_ADMISSION, {"tenant_id": tenant_id})


#: The columns an intake sets; the others take their defaults (id, token, timestamps).
_INTAKE_COLUMNS = (
    "tenant_id", "filename", "sha256", "size", "status", "stage", "callback_url", "options", "doc_metadata",
    "traceparent", "admitted_at",
)


@functools.lru_cache(maxsize=4)
def _insert_document(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (tenant_id, sha256) DO NOTHING RETURNING`` with bound values, built once.

    Building it per upload (coercing eleven values, the conflict clause) cost more
    CPU than sending it; bound parameters let every upload reuse one statement.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    statement: Any = sqlite.insert(Document) if dialect == "sqlite" else postgresql.insert(Document)
    return (
        statement
        .values({name: bindparam(f"v_{name}") for name in _INTAKE_COLUMNS})
        .on_conflict_do_nothing(index_elements=[Document.tenant_id, Document.sha256])
        .returning(Document)
    )


#: Columns with a Python-side default, given explicitly to the one-statement intake:
#: SQLAlchemy fills such defaults only for a top-level INSERT, not for one inside a CTE.
_INTAKE_DEFAULTS = ("id", "dispatch_token", "created_at", "updated_at", "progress_at", "enqueue_count")
_AUDIT_COLUMNS = ("at", "action", "outcome", "key_id", "request_id", "client", "detail")


@functools.lru_cache(maxsize=2)
def _intake_statement(with_audit: bool) -> Any:
    """PostgreSQL: document, stage rows and (optionally) its ``accepted`` audit row in one statement.

    Data-modifying CTEs: the document's ``INSERT ... ON CONFLICT DO NOTHING
    RETURNING``, the stage rows inserted from its returned row (so none for a
    duplicate), the audit row likewise; the outer ``SELECT`` returns the document
    with each stage row, loaded by the ORM, in pipeline order. One round trip
    instead of three; no row back means the tenant has these bytes. Built once.
    """
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.orm import aliased

    from aegis.persistence.models import AuditEvent

    documents: Any = Document.__table__
    runs_table: Any = StageRun.__table__
    new_document = (
        postgresql.insert(documents)
        .values({
            # The table's column for the ``doc_metadata`` attribute is ``metadata``.
            ("metadata" if name == "doc_metadata" else name): bindparam(f"v_{name}")
            for name in (*_INTAKE_COLUMNS, *_INTAKE_DEFAULTS)
        })
        .on_conflict_do_nothing(index_elements=[documents.c.tenant_id, documents.c.sha256])
        .returning(*documents.c)
        .cte("new_document")
    )
    stages = (
        func.unnest(bindparam("stages", type_=ARRAY(String)))
        .table_valued("stage", with_ordinality="n")
        .render_derived()  # AS anon(stage, n)
    )
    new_runs = (
        insert(runs_table)
        .from_select(
            ["document_id", "stage", "status", "attempts"],
            select(new_document.c.id, stages.c.stage, bindparam("run_status", type_=String), literal(0))
            .select_from(new_document).join(stages, true())
            .order_by(stages.c.n),
        )
        .returning(*runs_table.c)
        .cte("new_runs")
    )
    document, run = aliased(Document, new_document), aliased(StageRun, new_runs)
    statement = select(document, run).join_from(document, run, true()).order_by(new_runs.c.id)
    if with_audit:
        audit_table: Any = AuditEvent.__table__
        new_event = insert(audit_table).from_select(
            ["tenant_id", "document_id", *_AUDIT_COLUMNS],
            select(
                new_document.c.tenant_id, new_document.c.id,
                *(bindparam(f"a_{name}", type_=audit_table.c[name].type) for name in _AUDIT_COLUMNS),
            ),
        ).cte("new_event")
        statement = statement.add_cte(new_event)
    return statement


def intake(
    session: Session,
    tenant_id: str,
    filename: str,
    sha256: str,
    size: int,
    callback_url: str | None = None,
    *,
    admitted: bool = False,
    options: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    traceparent: str | None = None,
    registry: Registry = REGISTRY,
    audit: dict[str, Any] | None = None,
) -> Intake:
    """Insert a queued document with its stage rows, or return the tenant's existing one (a duplicate).

    The caller commits, then sends the chain: if sending fails the row is still
    ``queued`` and the reconciler sends it later. An upload leaves ``admitted``
    false: the document waits for its tenant's turn and admission
    (aegis/pipeline/admission.py) decides when it is sent. Tools that run the
    stages themselves (``aegis extract``, benchmarks, tests) pass ``admitted=True``.

    No lock, and on PostgreSQL one statement (SQLite: two or three): ``INSERT ... ON CONFLICT (tenant_id, sha256) DO
    NOTHING RETURNING`` answers "new or duplicate" in the insert itself, so there is
    no lookup before it, no savepoint around it and no tenant lock to order
    concurrent uploads of the same bytes: the second insert waits for the first
    one's transaction and then inserts nothing (or its row, if the first rolled
    back). The stage rows follow in the same statement. Admission's ``FOR NO KEY
    UPDATE`` does not conflict with the key-share lock the insert takes on the
    tenant row, so uploads of one tenant do not queue for that row for their whole
    transaction.

    ``audit``: the columns of the ``accepted`` audit event to write with a new
    document (:func:`aegis.services.audit.event_values`); nothing is written for a
    duplicate. On PostgreSQL document, stage rows and event are one statement.
    """
    values: dict[str, Any] = {
        "tenant_id": tenant_id, "filename": filename, "sha256": sha256, "size": size,
        "status": DocumentStatus.QUEUED, "stage": registry.first.name, "callback_url": callback_url,
        "options": options, "doc_metadata": metadata, "traceparent": traceparent,
        "admitted_at": utcnow() if admitted else None,
    }
    if session.get_bind().dialect.name == "postgresql":
        return _intake_postgresql(session, values, registry, audit)
    statement = _insert_document(session.get_bind().dialect.name)
    document = session.scalars(statement, {f"v_{name}": value for name, value in values.items()}).first()
    if document is None:
        # Inserted nothing: the tenant has these bytes (committed, or just now by a concurrent upload).
        existing = find_by_sha(session, tenant_id, sha256)
        if existing is None:  # pragma: no cover - the conflicting row cannot vanish within the statement
            raise RuntimeError(f"document {sha256} conflicted but cannot be found")
        return Intake(existing, True)
    runs = list(session.scalars(
        insert(StageRun).returning(StageRun, sort_by_parameter_order=True),
        [{"document_id": document.id, "stage": stage, "status": StageStatus.PENDING} for stage in registry.names],
    ))
    if audit is not None:
        from aegis.services.audit import insert_events_values

        insert_events_values(session, tenant_id, audit, [document.id])
    # The answer lists the stages: give the document its rows without a query after the commit.
    set_committed_value(document, "stage_runs", runs)
    return Intake(document, False)


def _intake_postgresql(
    session: Session, values: dict[str, Any], registry: Registry, audit: dict[str, Any] | None
) -> Intake:
    """:func:`intake` in one round trip (see :func:`_intake_statement`)."""
    now = utcnow()
    params: dict[str, Any] = {f"v_{name}": value for name, value in values.items()}
    params.update(
        v_id=new_id(), v_dispatch_token=new_id(), v_created_at=now, v_updated_at=now, v_progress_at=now,
        v_enqueue_count=0, stages=list(registry.names), run_status=StageStatus.PENDING,
    )
    if audit is not None:
        params.update({f"a_{name}": audit[name] for name in _AUDIT_COLUMNS})
    rows = session.execute(_intake_statement(audit is not None), params).all()
    if not rows:
        existing = find_by_sha(session, values["tenant_id"], values["sha256"])
        if existing is None:  # pragma: no cover - the conflicting row cannot vanish within the statement
            raise RuntimeError(f"document {values['sha256']} conflicted but cannot be found")
        return Intake(existing, True)
    document = rows[0][0]
    # The answer lists the stages: give the document its rows without a query after the commit.
    set_committed_value(document, "stage_runs", [run for _, run in rows])
    return Intake(document, False)


def parse_id(document_id: str | None) -> str | None:
    """The canonical (lower-case) form of a document id, or None if it cannot be one."""
    if document_id is None or _DOCUMENT_ID.fullmatch(document_id) is None:
        return None
    return document_id.lower()


def get_document(
    session: Session, tenant_id: str, document_id: str, *, for_update: bool = False
) -> Document | None:
    """A tenant's document; another tenant's id is indistinguishable from a missing one.

    ``for_update`` locks the row first: every writer (the gateway's reprocess and
    delete, the stage runner, the batch join) takes the document row before any
    dependent row, so two of them can wait for each other but never deadlock.
    """
    canonical = parse_id(document_id)
    if canonical is None:
        return None
    query = select(Document).where(Document.id == canonical, Document.tenant_id == tenant_id)
    if for_update:
        # Lock the row alone (no join), then load the stage rows under that lock.
        # populate_existing: an unlocked read earlier in the session must not stand in for this one.
        document = session.scalars(query.with_for_update().execution_options(populate_existing=True)).first()
        if document is not None:
            session.refresh(document, ["stage_runs"])
        return document
    return session.scalars(query.options(selectinload(Document.stage_runs))).first()


def encode_cursor(document: Document) -> str:
    raw = json.dumps([as_utc(document.created_at).isoformat(), document.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, doc_id = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        return datetime.fromisoformat(created), str(doc_id)
    except Exception as exc:  # noqa: BLE001 - any garbage is just an invalid cursor
        raise InvalidCursor("The cursor is not one this server issued.") from exc


def list_documents(
    session: Session, tenant_id: str, *, status: str | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[Document], str | None]:
    """Newest first; keyset pagination on (created_at, id) so pages never shift."""
    query = (
        select(Document)
        .options(selectinload(Document.stage_runs))
        .where(Document.tenant_id == tenant_id)
        .order_by(Document.created_at.desc(), Document.id.desc())
    )
    if status:
        query = query.where(Document.status == status)
    if cursor:
        created, doc_id = decode_cursor(cursor)
        query = query.where(
            (Document.created_at < created) | ((Document.created_at == created) & (Document.id < doc_id))
        )
    rows = list(session.scalars(query.limit(limit + 1)).all())
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def reprocess(session: Session, document: Document) -> None:
    reset_for_reprocess(session, document)
    # The new run is a new trace: the reprocess request's.
    document.traceparent = tracing.current_traceparent()


def delete_rows(session: Session, document: Document) -> None:
    """Delete the document and its rows; the caller holds the document row's lock.

    Locked first, the document row serialises this delete with a stage that is
    storing its result: whichever commits second sees the other's outcome (the
    stage finds no document and drops its result) instead of a deadlock.
    """
    session.execute(delete(Chunk).where(Chunk.document_id == document.id))
    session.execute(delete(PageText).where(PageText.document_id == document.id))
    session.execute(delete(Batch).where(Batch.document_id == document.id))
    session.delete(document)


def get_content(session: Session, document: Document) -> dict[str, Any]:
    pages = session.scalars(
        select(PageText).where(PageText.document_id == document.id).order_by(PageText.number)
    ).all()
    chunks = session.scalars(
        select(Chunk).where(Chunk.document_id == document.id).order_by(Chunk.index)
    ).all()
    return {
        "document_id": document.id,
        "pages": [_page(p) for p in pages],
        "chunks": [
            {"index": c.index, "page_start": c.page_start, "page_end": c.page_end, "text": c.text}
            for c in chunks
        ],
    }


def ocr_layers(session: Session, document: Document) -> dict[int, bytes]:
    """Page number -> the invisible text layer OCR wrote for it."""
    rows = session.execute(
        select(PageText.number, PageText.ocr_layer)
        .where(PageText.document_id == document.id, PageText.ocr.is_(True), PageText.ocr_layer.is_not(None))
        .order_by(PageText.number)
    )
    return {number: layer for number, layer in rows if layer}


def _page(page: PageText) -> dict[str, Any]:
    out: dict[str, Any] = {"number": page.number, "text": page.text, "ocr": bool(page.ocr)}
    if page.ocr:
        out["ocr_confidence"] = page.ocr_confidence
    if page.ocr_error:
        out["ocr_error"] = page.ocr_error
    return out


def to_dict(document: Document, *, duplicate: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": document.id,
        "filename": document.filename,
        "status": document.status,
        "stage": document.stage,
        "stages": describe_runs(document),
        "error": {"code": document.error_code, "message": document.error_message}
        if document.error_code
        else None,
        "mime": document.mime,
        "size": document.size,
        "sha256": document.sha256,
        "metadata": document.doc_metadata,
        "ai": document.ai,
        "warnings": document.warnings or [],
        "created_at": as_utc(document.created_at).isoformat(),
        "updated_at": as_utc(document.updated_at).isoformat(),
        "trace_id": tracing.trace_id_of(document.traceparent),
    }
    if duplicate is not None:
        out["duplicate"] = duplicate
    return out

