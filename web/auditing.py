"""The gateway's side of the audit log: the acting key, request and address, and one write.

An upload's events commit in the upload's own transaction (:func:`add`). Others are
written in a transaction of their own after the action committed or was refused
(:func:`record`): a refused request is recorded although its own work rolled back,
and a failing audit write is logged but does not turn a done deletion into a 500.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import g, request
from sqlalchemy.orm import Session

from aegis.services import audit
from web.context import sessions

log = logging.getLogger("aegis.gateway.audit")


def actor() -> audit.Actor:
    return audit.Actor(key_id=g.get("key_id"), request_id=g.get("request_id"), client=request.remote_addr)


def add(
    session: Session, action: str, outcome: str, *, document_ids: list[str | None] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Events in the caller's transaction: they commit with the action they record, or not at all."""
    audit.insert_events(
        session, g.tenant.id, action, outcome, actor(), document_ids=document_ids or [None], detail=detail,
    )


def record(
    action: str, outcome: str, *, document_ids: list[str | None] | None = None,
    detail: dict[str, Any] | None = None, tenant_id: str | None = None,
) -> None:
    """One event per document id (one with none if there is none), for the signed-in tenant."""
    tenant = tenant_id or g.tenant.id
    who = actor()
    try:
        with sessions()() as session:
            for document_id in document_ids or [None]:
                audit.record(session, tenant, action, outcome, who, document_id=document_id, detail=detail)
            session.commit()
    except Exception:  # noqa: BLE001 - the action is done; say loudly that its record is missing
        log.exception("audit event not recorded", extra={"action": action, "outcome": outcome})
