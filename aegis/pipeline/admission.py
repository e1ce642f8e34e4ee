"""Fair share: which waiting documents enter the Celery queues, and when.

A tenant uploading 50,000 files must not fill every queue while the others wait
behind it. So an upload does not send its chain straight away: the document is
``queued`` with no ``admitted_at``, and admission lets in a tenant's oldest waiting
documents only while the tenant has fewer than its cap in flight (admitted and not
yet ended). Admission runs after an upload, after a document ends or is deleted,
and on every reconciler tick as the safety net.

Crash safety comes from the database, as for the reconciler. Admission marks the
documents ``admitted_at`` and commits *before* the caller sends their chains; a
process that dies in between leaves admitted documents with no message, which the
reconciler re-sends once their first stage's deadline passes. Two admitters never
over-admit a tenant: each holds the tenant's row lock while it counts and picks
(tenants are locked in id order, so two passes over many tenants cannot deadlock),
and waiting rows are taken ``FOR UPDATE SKIP LOCKED``, so a row a concurrent
reprocess or delete holds is skipped, never waited for. SQLite (the embedded mode)
has one writer at a time, which gives the same guarantees without the locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from aegis.config import Settings
from aegis.persistence.models import Document, Tenant, utcnow
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.vocabulary import ACTIVE_STATUSES, DocumentStatus

#: At most this many documents admitted by one pass: a pass is one short transaction.
PASS_BUDGET = 500


@dataclass(frozen=True)
class Admitted:
    """A document let into the queues; the caller sends its chain after committing."""

    document_id: str
    tenant_id: str
    token: str
    stage: str


def waiting() -> ColumnElement[bool]:
    """The SQL condition for a document that waits for its tenant's turn."""
    return (Document.status == DocumentStatus.QUEUED) & Document.admitted_at.is_(None)


def cap_of(tenant: Tenant, settings: Settings) -> int:
    return tenant.max_in_flight if tenant.max_in_flight is not None else settings.tenant_max_in_flight


def in_flight(session: Session, tenant_id: str) -> int:
    """Documents of the tenant admitted and not yet ended."""
    return int(session.scalar(
        select(func.count()).select_from(Document).where(
            Document.tenant_id == tenant_id,
            Document.status.in_(ACTIVE_STATUSES),
            Document.admitted_at.is_not(None),
        )
    ) or 0)


def tenants_waiting(session: Session, limit: int = PASS_BUDGET) -> list[str]:
    """Tenants with at least one waiting document (the partial index answers this)."""
    return list(session.scalars(
        select(Document.tenant_id).where(waiting()).group_by(Document.tenant_id).limit(limit)
    ))


def admit(
    session: Session,
    settings: Settings,
    tenant_ids: Iterable[str] | None = None,
    *,
    budget: int = PASS_BUDGET,
    now: datetime | None = None,
    registry: Registry = REGISTRY,
) -> list[Admitted]:
    """Admit waiting documents of ``tenant_ids`` (default: every tenant with waiting work).

    Round-robin: the tenants' picks are interleaved one document at a time, so a
    pass that runs out of ``budget`` has served every tenant before any tenant's
    second document, and the chains are sent in that order. The caller commits,
    then sends (``chain.send``) the returned documents.
    """
    ids = sorted(set(tenant_ids) if tenant_ids is not None else tenants_waiting(session))
    picks: list[list[Document]] = []
    for tenant_id in ids:
        tenant = session.scalars(select(Tenant).where(Tenant.id == tenant_id).with_for_update()
            .execution_options(populate_existing=True)).first()
        if tenant is None:
            continue
        free = min(cap_of(tenant, settings) - in_flight(session, tenant_id), budget)
        if free <= 0:
            continue
        rows = list(session.scalars(
            select(Document)
            .where(Document.tenant_id == tenant_id, waiting())
            .order_by(Document.created_at, Document.id)
            .limit(free)
            .with_for_update(skip_locked=True)
        ))
        if rows:
            picks.append(rows)
    # Stamped once the locks are held and the slots counted, never before: a time taken at
    # the start of the pass could predate the end of the document whose slot it fills.
    now = now or utcnow()
    admitted: list[Admitted] = []
    depth = 0
    while len(admitted) < budget and any(depth < len(rows) for rows in picks):
        for rows in picks:
            if depth < len(rows) and len(admitted) < budget:
                admitted.append(_mark(rows[depth], now, registry))
        depth += 1
    return admitted


def _mark(document: Document, now: datetime, registry: Registry) -> Admitted:
    document.admitted_at = now
    # The reconciler's clock starts now: a crash before the send is noticed one deadline later.
    document.progress_at = now
    document.enqueue_count += 1
    stage = document.stage or registry.first.name
    return Admitted(document.id, document.tenant_id, document.dispatch_token, stage)


def tenant_of(session: Session, document_id: str) -> str | None:
    return session.scalar(select(Document.tenant_id).where(Document.id == document_id))
