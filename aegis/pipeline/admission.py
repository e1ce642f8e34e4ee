"""Fair share: which waiting documents enter the Celery queues, and when.

A tenant uploading 50,000 files must not fill every queue while the others wait
behind it. So an upload does not send its chain straight away: the document is
``queued`` with no ``admitted_at``, and admission lets documents in under two bounds:

- the installation's: at most ``AEGIS_PIPELINE_SLOTS`` documents in flight (admitted
  and not yet ended) across all tenants, about what the workers can run at once. The
  queues stay short, so a document admitted now waits behind a few others per stage,
  not behind a tenant's whole burst. A freed slot goes to the tenant with the fewest
  documents in flight, and a tenant with *none* in flight is always admitted one
  document even when the installation is full (so the bound is exceeded by at most
  one document per newly arriving tenant): it never waits for someone else's end;
- the tenant's: at most its cap (``max_in_flight``, default the installation's slots).

Admission runs after an upload, after a document ends or is deleted, and on every
reconciler tick as the safety net; each pass first asks whether anything waits at
all (one probe of the waiting partial index), which is the common answer.

Crash safety comes from the database, as for the reconciler. Admission marks the
documents ``admitted_at`` and commits *before* the caller sends their chains; a
process that dies in between leaves admitted documents with no message, which the
reconciler re-sends once their first stage's deadline passes. Two admitters never
over-admit a tenant: each holds the tenant's row lock (``FOR NO KEY UPDATE``, which
an upload inserting the tenant's documents does not conflict with) while it counts
and picks, tenants locked in id order so two passes cannot deadlock, and waiting rows
are taken ``FOR UPDATE SKIP LOCKED``, so a row a concurrent reprocess or delete holds
is skipped, never waited for. The installation's bound is read without a lock: two
concurrent admitters may each fill the last free slot, a transient overshoot of one
document per admitter that the next ends absorb. SQLite (the embedded mode) has one
writer at a time, which gives the same guarantees without the locks.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, exists, func, select
from sqlalchemy.orm import Session

from aegis.config import Settings
from aegis.persistence.models import Document, Tenant, utcnow
from aegis.pipeline import priority
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
    #: The broker priority of every message of its chain (``aegis/pipeline/priority.py``).
    priority: int | None = None


def waiting() -> ColumnElement[bool]:
    """The SQL condition for a document that waits for its tenant's turn."""
    return (Document.status == DocumentStatus.QUEUED) & Document.admitted_at.is_(None)


def in_flight_now() -> ColumnElement[bool]:
    """The SQL condition for a document in flight: admitted and not yet ended (0007's index)."""
    return Document.status.in_(ACTIVE_STATUSES) & Document.admitted_at.is_not(None)


def cap_of(tenant: Tenant, settings: Settings) -> int:
    return tenant.max_in_flight if tenant.max_in_flight is not None else settings.tenant_max_in_flight


def in_flight(session: Session, tenant_id: str) -> int:
    """Documents of the tenant admitted and not yet ended."""
    return int(session.scalar(
        select(func.count()).select_from(Document).where(Document.tenant_id == tenant_id, in_flight_now())
    ) or 0)


def in_flight_total(session: Session) -> int:
    """Documents of every tenant admitted and not yet ended."""
    return int(session.scalar(select(func.count()).select_from(Document).where(in_flight_now())) or 0)


def anything_waiting(session: Session, tenant_ids: Iterable[str] | None = None) -> bool:
    """One probe of the waiting partial index: the whole pass when nothing waits."""
    condition = waiting()
    if tenant_ids is not None:
        condition = condition & Document.tenant_id.in_(list(tenant_ids))
    return bool(session.scalar(select(exists().where(condition))))


@dataclass
class _Candidate:
    tenant_id: str
    cap: int
    running: int  # in flight when the pass began (unlocked read)
    queued: int  # waiting, counted up to a pass's most
    plan: int = 0  # documents this pass means to admit


@functools.lru_cache(maxsize=16)
def _candidates_query(first: int, named: bool, limit: int) -> Select[Any]:
    """The candidates statement, built once per shape: building it cost more CPU than running it.

    ``named``: restricted to the tenants bound as ``tenant_ids`` (an expanding
    parameter), as an upload's admission is; SQLAlchemy's compiled cache then
    serves every later call.
    """
    running = (
        select(func.count()).select_from(Document)
        .where(Document.tenant_id == Tenant.id, in_flight_now())
        .correlate(Tenant).scalar_subquery()
    )
    waits = exists().where(Document.tenant_id == Tenant.id, waiting()).correlate(Tenant)
    # How many wait, counted only up to what one pass could give a tenant.
    first_waiting = (
        select(Document.id).where(Document.tenant_id == Tenant.id, waiting())
        .limit(first).correlate(Tenant).subquery()
    )
    queued = select(func.count()).select_from(first_waiting).scalar_subquery()
    total = select(func.count()).select_from(Document).where(in_flight_now()).scalar_subquery()
    query = select(
        Tenant.id, Tenant.max_in_flight, running.label("running"), queued.label("queued"), total.label("total"),
    ).where(waits)
    if named:
        query = query.where(Tenant.id.in_(bindparam("tenant_ids", expanding=True)))
    return query.order_by(running, Tenant.id).limit(limit)


def candidates(
    session: Session, settings: Settings, tenant_ids: Iterable[str] | None = None, limit: int = PASS_BUDGET,
) -> tuple[int, list[_Candidate]]:
    """Documents in flight in total, and the tenants with waiting work, fewest in flight first.

    One statement: a tenant's in-flight count and whether it waits are index probes
    (0007's in-flight index, the waiting index), so the cost follows the number of
    tenants, not of their waiting documents.
    """
    query = _candidates_query(max(1, min(limit, settings.pipeline_slots + 1)), tenant_ids is not None, limit)
    params = {} if tenant_ids is None else {"tenant_ids": list(tenant_ids)}
    rows = session.execute(query, params).all()
    if not rows:
        return 0, []
    found = [
        _Candidate(r.id, r.max_in_flight if r.max_in_flight is not None else settings.tenant_max_in_flight,
                   int(r.running), int(r.queued))
        for r in rows
    ]
    return int(rows[0].total), found


def plan(total: int, slots: int, found: list[_Candidate], budget: int = PASS_BUDGET) -> list[_Candidate]:
    """How many documents each tenant gets this pass (a pure function of the counts).

    A tenant with nothing in flight gets one at once, even past the installation's
    bound; the free slots then go one at a time to the tenant with the fewest in
    flight (ties: the earlier in ``found``), never past a tenant's cap nor its waiting work.
    """
    free = slots - total
    for c in found:
        if c.running == 0 and c.cap > 0 and c.queued > 0 and budget > 0:
            c.plan, free, budget = 1, free - 1, budget - 1
    open_ = [c for c in found if c.running + c.plan < c.cap and c.plan < c.queued]
    while free > 0 and budget > 0 and open_:
        best = min(open_, key=lambda c: c.running + c.plan)
        best.plan += 1
        free, budget = free - 1, budget - 1
        if best.running + best.plan >= best.cap or best.plan >= best.queued:
            open_.remove(best)
    return [c for c in found if c.plan > 0]


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

    Round-robin, fewest in flight first: the tenants' picks are interleaved one
    document at a time, so a pass has served every tenant before any tenant's second
    document, and the chains are sent in that order. The caller commits, then sends
    (``chain.send``) the returned documents.
    """
    ids = None if tenant_ids is None else sorted(set(tenant_ids))
    # The probe pays off for a pass over everyone (ends, ticks: usually nothing waits);
    # a named tenant (its upload) has just added waiting work, and the next query asks anyway.
    if ids == [] or (ids is None and not anything_waiting(session)):
        return []
    total, found = candidates(session, settings, ids)
    chosen = plan(total, settings.pipeline_slots, found, budget)
    picks: dict[str, tuple[list[Document], int]] = {}
    for c in sorted(chosen, key=lambda c: c.tenant_id):  # lock order: tenant id
        tenant = session.scalars(select(Tenant).where(Tenant.id == c.tenant_id).with_for_update(key_share=True)
            .execution_options(populate_existing=True)).first()
        if tenant is None:
            continue
        # Recounted under the lock: the plan's counts were read without it.
        running = in_flight(session, c.tenant_id)
        # Another admitter's documents since then take from this pass's share; a tenant
        # with nothing in flight still gets its one.
        want = c.plan - max(0, running - c.running)
        if running == 0:
            want = max(want, 1)
        free = min(cap_of(tenant, settings) - running, want)
        if free <= 0:
            continue
        rows = list(session.scalars(
            select(Document)
            .where(Document.tenant_id == c.tenant_id, waiting())
            .order_by(Document.created_at, Document.id)
            .limit(free)
            .with_for_update(skip_locked=True)
        ))
        if rows:
            picks[c.tenant_id] = rows, running
    ordered = [picks[c.tenant_id] for c in chosen if c.tenant_id in picks]
    # Stamped once the locks are held and the slots counted, never before: a time taken at
    # the start of the pass could predate the end of the document whose slot it fills.
    now = now or utcnow()
    admitted: list[Admitted] = []
    depth = 0
    while len(admitted) < budget and any(depth < len(rows) for rows, _ in ordered):
        for rows, running in ordered:
            if depth < len(rows) and len(admitted) < budget:
                # The tenant's other documents in flight: those before the pass and this pass's earlier picks.
                level = priority.for_document(running + depth, settings.broker_kind)
                admitted.append(_mark(rows[depth], now, registry, level))
        depth += 1
    return admitted


def resend_priorities(session: Session, settings: Settings, document_ids: Iterable[str]) -> dict[str, int | None]:
    """The priority a re-sent document's messages carry, by document id.

    Not stored with the document: decided again from its tenant's other documents in
    flight now (one grouped count), so a tenant that was light when the message was
    lost is still served first, and a flood's re-sends stay behind the light tenants.
    """
    ids = sorted(set(document_ids))
    if not ids or settings.broker_kind == "filesystem":
        return {i: None for i in ids}
    tenants: dict[str, str] = {
        row.id: row.tenant_id for row in session.execute(select(Document.id, Document.tenant_id)
                                                           .where(Document.id.in_(ids)))
    }
    counts: dict[str, int] = {
        row.tenant_id: int(row.n) for row in session.execute(
            select(Document.tenant_id, func.count().label("n"))
            .where(Document.tenant_id.in_(set(tenants.values())), in_flight_now()).group_by(Document.tenant_id)
        )
    }
    # The document itself is (normally) one of its tenant's in flight.
    return {i: priority.for_document(counts.get(tenants.get(i, ""), 0) - 1, settings.broker_kind) for i in ids}


def _mark(document: Document, now: datetime, registry: Registry, level: int | None = None) -> Admitted:
    document.admitted_at = now
    # The reconciler's clock starts now: a crash before the send is noticed one deadline later.
    document.progress_at = now
    document.enqueue_count += 1
    stage = document.stage or registry.first.name
    return Admitted(document.id, document.tenant_id, document.dispatch_token, stage, level)


def tenant_of(session: Session, document_id: str) -> str | None:
    return session.scalar(select(Document.tenant_id).where(Document.id == document_id))
