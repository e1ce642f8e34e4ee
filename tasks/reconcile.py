"""The reconciler, run by beat: re-sends chains that Redis lost or workers dropped."""

from __future__ import annotations

import logging

from aegis.persistence.db import session_scope
from aegis.pipeline import chain, reconciler
from tasks.admission import admit_all, ended
from tasks.app import app
from tasks.base import settings

log = logging.getLogger("aegis.reconcile")


@app.task(name="aegis.reconcile", ignore_result=True, time_limit=60, soft_time_limit=50, acks_late=False)
def reconcile() -> int:
    s = settings()
    with session_scope(s) as session:
        actions = reconciler.reconcile(session, s)
    sent = 0
    for action in actions:
        context = {"document_id": action.document_id, "stage": action.stage}
        if action.action == "redispatch" and action.batch is not None:
            chain.send_batches(app, action.document_id, action.token, action.stage, [action.batch])
            sent += 1
            log.info("re-enqueued batch %d of %s", action.batch, action.stage, extra=context)
        elif action.action == "redispatch":
            chain.send(app, action.document_id, action.token, action.stage)
            sent += 1
            log.info("re-enqueued from %s", action.stage, extra=context)
        else:
            log.warning("failed after too many attempts", extra=context)
            ended(action.document_id)
    # The safety net of fair share: a slot freed by a process that died before it
    # admitted the next document is filled here.
    sent += admit_all()
    return sent
