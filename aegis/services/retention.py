"""Retention: documents older than their tenant's ``retention_days`` are deleted by beat.

Everything of a document goes (its vectors in whichever store holds them, its
file, its rows) in bounded batches, so one run is a short piece of work however
much has expired, and each deletion is recorded in the audit log in the same
transaction that removes the rows. The order makes a crash harmless: vectors
and file first (both idempotent), rows last, so a document whose rows survive a
crash is simply found again by the next run; nothing is left without a row
pointing at it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.types import VectorStore
from aegis.persistence.models import Document, Tenant, utcnow
from aegis.persistence.storage import BlobStore
from aegis.services import audit
from aegis.services.documents import delete_rows

log = logging.getLogger("aegis.retention")

#: Documents deleted per run at most: bounded work for one beat tick.
BATCH = 200


@dataclass(frozen=True)
class Expired:
    tenant_id: str
    document_id: str
    sha256: str
    created_at: datetime


def expired(session: Session, now: datetime, limit: int = BATCH) -> list[Expired]:
    """The oldest documents past their tenant's retention, ``limit`` at most."""
    out: list[Expired] = []
    tenants = session.execute(
        select(Tenant.id, Tenant.retention_days).where(Tenant.retention_days.is_not(None)).order_by(Tenant.id)
    ).all()
    for tenant_id, days in tenants:
        if len(out) >= limit:
            break
        cutoff = now - timedelta(days=int(days or 0))
        rows = session.execute(
            select(Document.id, Document.sha256, Document.created_at)
            .where(Document.tenant_id == tenant_id, Document.created_at < cutoff)
            .order_by(Document.created_at).limit(limit - len(out))
        ).all()
        out.extend(Expired(tenant_id, doc_id, sha, created) for doc_id, sha, created in rows)
    return out


def run(
    sessions: sessionmaker[Session], store: BlobStore, vectors: VectorStore, *,
    limit: int = BATCH, now: datetime | None = None,
) -> int:
    """Delete one batch of expired documents; returns how many went."""
    now = now or utcnow()
    with sessions() as session:
        batch = expired(session, now, limit)
    deleted = 0
    for item in batch:
        vectors.delete_document(item.tenant_id, item.document_id)
        store.delete(item.tenant_id, item.sha256)
        with sessions() as session:
            document = session.scalars(
                select(Document).where(Document.id == item.document_id).with_for_update(skip_locked=True)
            ).first()
            if document is None:
                continue  # deleted meanwhile, or held by a stage right now: the next run sees it
            delete_rows(session, document)
            audit.record(session, item.tenant_id, "retention.delete", "deleted", document_id=item.document_id,
                         detail={"created_at": item.created_at.isoformat(), "by": "retention"})
            session.commit()
            deleted += 1
    if deleted:
        log.info("retention deleted %d documents", deleted)
    return deleted
