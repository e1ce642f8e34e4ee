"""Admission in the workers: a document that ends makes room for its tenant's next one."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aegis.persistence.db import session_scope
from aegis.pipeline import admission, chain
from tasks.app import app
from tasks.base import settings

log = logging.getLogger("aegis.admission")


def send_admitted(admitted: Iterable[admission.Admitted]) -> int:
    """Send the chains of documents whose admission has committed.

    A send that fails leaves an admitted document without a message: the
    reconciler re-sends it once its stage's deadline passes, so it is late, never lost.
    """
    sent = 0
    for doc in admitted:
        try:
            chain.send(app, doc.document_id, doc.token, doc.stage, priority=doc.priority)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - the reconciler owns it now
            log.warning("could not enqueue admitted document: %s", exc, extra={"document_id": doc.document_id})
    return sent


def admit_after_end(document_id: str) -> None:
    """Fill the slot a document's end freed; never fails the caller.

    Every tenant with waiting work is a candidate, not only the ended document's:
    the slot is the installation's, and it goes to the tenant with the fewest in
    flight. With nothing waiting this is one index probe.
    """
    s = settings()
    try:
        with session_scope(s) as session:
            admitted = admission.admit(session, s)
    except Exception:  # noqa: BLE001 - the reconciler's admission pass is the safety net
        log.exception("admission after a document ended failed", extra={"document_id": document_id})
        return
    send_admitted(admitted)


def ended(document_id: str) -> None:
    """Everything that follows a document's end: its webhook, then its tenant's next document."""
    from tasks.webhooks import notify_end

    notify_end(document_id)
    admit_after_end(document_id)


def admit_all() -> int:
    """One admission pass over every tenant with waiting work (the reconciler's tick)."""
    s = settings()
    with session_scope(s) as session:
        admitted = admission.admit(session, s)
    return send_admitted(admitted)
