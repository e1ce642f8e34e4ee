"""Retention, run by beat: expired documents of every tenant, then old audit events."""

from __future__ import annotations

import logging

from aegis.ai import get_vector_store
from aegis.persistence.db import session_factory, session_scope
from aegis.persistence.storage import open_store
from aegis.services import audit, retention
from tasks.app import app
from tasks.base import settings

log = logging.getLogger("aegis.retention")


@app.task(name="aegis.retention", ignore_result=True, time_limit=600, soft_time_limit=540, acks_late=False)
def retention_task() -> int:
    s = settings()
    sessions = session_factory(s)
    deleted = retention.run(sessions, open_store(s), get_vector_store(s, sessions))
    if s.audit_retention_days:
        with session_scope(s) as session:
            purged = audit.purge(session, s.audit_retention_days)
        if purged:
            log.info("purged %d audit events older than %d days", purged, s.audit_retention_days)
    return deleted
