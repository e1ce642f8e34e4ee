"""SQLAlchemy models: the record of truth for tenants, documents and their stages.

The schema is changed only through Alembic migrations in ``aegis/migrations``.
Types are portable so the same models run on PostgreSQL (production, tests) and
SQLite (the embedded ``aegis dev`` mode).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aegis.vocabulary import DocumentStatus, StageStatus

# Predicates of the reconciler's partial indexes; the same literals as ACTIVE_STATUSES
# and StageStatus.RUNNING (tests/unit/test_reconciler_indexes.py checks they agree).
_ACTIVE = "status IN ('queued', 'processing')"
_RUNNING = "status = 'running'"
_IN_FLIGHT = f"admitted_at IS NOT NULL AND {_ACTIVE}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Token accounting for paid AI providers; 0 budget means unlimited.
    token_budget: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens_used: Mapped[int] = mapped_column(BigInteger, default=0)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Fair share: documents of this tenant in the queues at once (null: AEGIS_TENANT_MAX_IN_FLIGHT).
    max_in_flight: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Quotas and rate limits (aegis/services/limits.py); null: no limit.
    max_documents_per_day: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_bytes_per_day: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_pages_per_day: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_stored_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    requests_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    rate_burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Documents older than this many days are deleted by beat; null: kept for ever.
    retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="tenant", cascade="all, delete-orphan")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the key; the key itself is shown once and never stored.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    # read | write | admin (aegis/services/tenants.py SCOPES).
    scope: Mapped[str] = mapped_column(String(10), default="write")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    tenant: Mapped[Tenant] = relationship(back_populates="keys")


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "sha256", name="uq_documents_tenant_sha256"),
        Index("ix_documents_tenant_created", "tenant_id", "created_at"),
        # The reconciler's scan: only documents in flight, oldest progress first (0003).
        Index("ix_documents_active_progress", "progress_at",
              postgresql_where=text(_ACTIVE), sqlite_where=text(_ACTIVE)),
        # Admission counts a tenant's in-flight documents and picks its oldest waiting ones.
        Index("ix_documents_tenant_status", "tenant_id", "status"),
        Index(
            "ix_documents_waiting", "tenant_id", "created_at",
            postgresql_where=text("admitted_at IS NULL"), sqlite_where=text("admitted_at IS NULL"),
        ),
        # Admission's counts of documents in flight, per tenant and in total (0007): a few
        # entries per tenant, however many of its documents wait or have ended.
        Index("ix_documents_in_flight", "tenant_id",
              postgresql_where=text(_IN_FLIGHT), sqlite_where=text(_IN_FLIGHT)),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str | None] = mapped_column(String(200), nullable=True)
    family: Mapped[str | None] = mapped_column(String(50), nullable=True)
    # queued | processing | succeeded | failed | rejected
    status: Mapped[str] = mapped_column(String(20), default=DocumentStatus.QUEUED)
    # The stage the document is in (or waits for); null once it has ended.
    stage: Mapped[str | None] = mapped_column(String(20), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    doc_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, nullable=True)
    ai: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # A new token per dispatch: messages carrying an older token are stale and dropped.
    dispatch_token: Mapped[str] = mapped_column(String(36), default=new_id)
    callback_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Last time a stage started, ended or was (re-)enqueued: what the reconciler watches.
    progress_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    enqueue_count: Mapped[int] = mapped_column(Integer, default=0)
    # When admission let the document into the queues; null while it waits its tenant's turn
    # (status ``queued``). Only admitted documents are sent, re-sent or counted as in flight.
    admitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # Things a user should know about a succeeded document (a page OCR could not read).
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    # Per-document processing options given at upload (``ocr``, ``ocr_languages``).
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # W3C traceparent of the upload (or reprocess) request when tracing is on: the
    # document's ``trace_id``, and what a reconciler re-send links to.
    traceparent: Mapped[str | None] = mapped_column(String(55), nullable=True)

    stage_runs: Mapped[list[StageRun]] = relationship(
        back_populates="document", cascade="all, delete-orphan", passive_deletes=True
    )


class StageRun(Base):
    __tablename__ = "stage_runs"
    __table_args__ = (UniqueConstraint("document_id", "stage", name="uq_stage_runs_document_stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    # pending | running | succeeded | failed | skipped
    status: Mapped[str] = mapped_column(String(20), default=StageStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Progress of a fanned-out stage (OCR): pages to do and pages done so far.
    pages_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pages_done: Mapped[int | None] = mapped_column(Integer, nullable=True)

    document: Mapped[Document] = relationship(back_populates="stage_runs")


class Batch(Base):
    """One unit of a fanned-out stage: a few pages, one task, claimed and ended like a stage.

    The join is crash-safe because a batch ends in the same transaction that counts
    the batches still open, under the document's row lock: exactly one transaction
    sees the last batch end and moves the document on.
    """

    __tablename__ = "batches"
    # The reconciler looks for running batches past their limit every interval (0003).
    __table_args__ = (
        Index("ix_batches_running_started", "stage", "started_at",
              postgresql_where=text(_RUNNING), sqlite_where=text(_RUNNING)),
    )

    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    pages: Mapped[list[int]] = mapped_column(JSON)
    # pending | running | succeeded | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    task_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(255), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BrokerEpoch(Base):
    """The marker the reconciler keeps in the broker, as the database last saw it (one row).

    The broker holds a marker named by ``epoch``; when the row names a marker the broker
    no longer has, the broker lost its data and every in-flight document is sent again
    (aegis/pipeline/brokerloss.py). ``resend_before`` stays set while a large backlog is
    being sent again over several passes.
    """

    __tablename__ = "broker_epochs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    epoch: Mapped[str] = mapped_column(String(36))
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lost_count: Mapped[int] = mapped_column(Integer, default=0)
    resend_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PageText(Base):
    __tablename__ = "pages"

    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    # True when the text came from OCR; confidence is Tesseract's mean word confidence.
    ocr: Mapped[bool] = mapped_column(Boolean, default=False)
    ocr_confidence: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Why OCR could not read this page (the document still succeeds).
    ocr_error: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The page's OCR text as an invisible one-page PDF layer (for searchable.pdf); deferred
    # so listing pages never reads it.
    ocr_layer: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_tenant", "tenant_id"),)

    document_id: Mapped[str] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(36))
    page_start: Mapped[int] = mapped_column(Integer)
    page_end: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # float32 little-endian vector written by the AI stage (local vector store).
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class AuditEvent(Base):
    """Who did what to which document, from where, and how it ended: append-only.

    Nothing updates a row; rows leave only through the audit log's own retention
    (``AEGIS_AUDIT_RETENTION_DAYS``). ``key_id`` is the key's id, never the key.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        # GET /v1/audit pages through one tenant's events by id, filtered by action or document.
        Index("ix_audit_tenant_id", "tenant_id", "id"),
        Index("ix_audit_tenant_action", "tenant_id", "action", "id"),
        Index("ix_audit_tenant_document", "tenant_id", "document_id"),
        Index("ix_audit_at", "at"),
    )

    # SQLite autoincrements only an INTEGER primary key.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    tenant_id: Mapped[str] = mapped_column(String(36))
    key_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    action: Mapped[str] = mapped_column(String(40))
    document_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    client: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
