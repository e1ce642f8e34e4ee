"""The audit log: who did what to which document, appended, never changed.

Every process that acts on a tenant's behalf writes here: the gateway (uploads,
deletes, reprocesses, searches, refused requests), the CLI (keys, limits) and beat
(retention). Reading is per tenant only: :func:`list_events` takes the tenant id
from the caller's key, never from the query.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from aegis.persistence.models import AuditEvent, as_utc, utcnow
from aegis.vocabulary import AUDIT_ACTIONS

#: The actions, as clients filter on them (``?action=``).
ACTIONS = AUDIT_ACTIONS


class InvalidQuery(ValueError):
    """A filter this log cannot answer (the gateway turns it into a 400)."""


class InvalidCursor(InvalidQuery):
    """A cursor this server did not hand out."""


@dataclass(frozen=True)
class Actor:
    """Who acts and from where; the CLI and beat act with no key and no address."""

    key_id: str | None = None
    request_id: str | None = None
    client: str | None = None


def record(
    session: Session,
    tenant_id: str,
    action: str,
    outcome: str,
    actor: Actor = Actor(),
    *,
    document_id: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (so it commits with what it records)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    event = AuditEvent(
        tenant_id=tenant_id, action=action, outcome=outcome, key_id=actor.key_id,
        request_id=(actor.request_id or "")[:64] or None, client=(actor.client or "")[:64] or None,
        document_id=document_id, detail=detail, at=at or utcnow(),
    )
    session.add(event)
    return event


def insert_events(
    session: Session,
    tenant_id: str,
    action: str,
    outcome: str,
    actor: Actor = Actor(),
    *,
    document_ids: Sequence[str | None] = (None,),
    detail: dict[str, Any] | None = None,
) -> None:
    """:func:`record`, one event per document id, as one Core insert in the caller's transaction.

    For the upload's hot path: no ORM object and no unit-of-work flush (which cost
    an upload more CPU than the insert itself), and nothing returned. The rows are
    the same as :func:`record` writes.
    """
    common = {"tenant_id": tenant_id, **event_values(action, outcome, actor, detail)}
    session.connection().execute(_INSERT_EVENT, [{**common, "document_id": d} for d in document_ids])


def insert_events_values(
    session: Session, tenant_id: str, values: dict[str, Any], document_ids: Sequence[str | None]
) -> None:
    """Events with columns from :func:`event_values`, one per document id, as one Core insert."""
    session.connection().execute(
        _INSERT_EVENT, [{**values, "tenant_id": tenant_id, "document_id": d} for d in document_ids]
    )


def event_values(
    action: str, outcome: str, actor: Actor = Actor(), detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An event's columns but its tenant and document: for writers that insert the row themselves.

    :func:`insert_events` uses them, and so does the upload's one-statement intake
    (``aegis.services.documents.intake``), so both write the same row.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    return {
        "at": utcnow(), "action": action, "outcome": outcome, "key_id": actor.key_id,
        "request_id": (actor.request_id or "")[:64] or None, "client": (actor.client or "")[:64] or None,
        "detail": detail,
    }


#: Core, not ORM: the table's own insert, built once.
_INSERT_EVENT = insert(AuditEvent.__table__)  # type: ignore[arg-type]


def encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(str(event_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        return int(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode())
    except Exception as exc:  # noqa: BLE001 - any garbage is just an invalid cursor
        raise InvalidCursor("The cursor is not one this server issued.") from exc


def parse_since(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError as exc:
        raise InvalidQuery("since must be an ISO 8601 time such as 2026-11-30T12:00:00Z.") from exc


def list_events(
    session: Session,
    tenant_id: str,
    *,
    since: datetime | None = None,
    action: str | None = None,
    document_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[Sequence[AuditEvent], str | None]:
    """The tenant's events, oldest first, keyset-paginated on the id."""
    if action is not None and action not in ACTIONS:
        raise InvalidQuery(f"action must be one of {', '.join(ACTIONS)}.")
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if document_id is not None:
        query = query.where(AuditEvent.document_id == document_id)
    if cursor:
        query = query.where(AuditEvent.id > decode_cursor(cursor))
    rows = list(session.scalars(query.limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def to_dict(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": as_utc(event.at).isoformat(),
        "action": event.action,
        "outcome": event.outcome,
        "key_id": event.key_id,
        "document_id": event.document_id,
        "request_id": event.request_id,
        "client": event.client,
        "detail": event.detail,
    }


def purge(session: Session, older_than_days: int, *, batch: int = 1000, now: datetime | None = None) -> int:
    """Drop one bounded batch of events older than the audit log's own retention."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    ids = list(session.scalars(select(AuditEvent.id).where(AuditEvent.at < cutoff).order_by(AuditEvent.id)
                               .limit(batch)))
    if ids:
        session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids)))
    return len(ids)
