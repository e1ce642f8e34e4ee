"""The reconciler, run by beat: re-sends chains that Redis lost or workers dropped."""

from __future__ import annotations

import logging

from aegis.observability import tracing
from aegis.observability.metrics import metrics
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
    m = metrics()
    for action in actions:
        context = {"document_id": action.document_id, "stage": action.stage}
        # One span per re-send, linking to the document's own trace (its upload's, long ended):
        # the stages sent from here are its children.
        with tracing.linked_span(
            f"reconcile {action.action} {action.stage}", action.traceparent,
            document_id=action.document_id, stage=action.stage, batch=action.batch, outcome=action.action,
        ):
            if action.action == "redispatch" and action.batch is not None:
                chain.send_batches(app, action.document_id, action.token, action.stage, [action.batch])
                sent += 1
                m.reconciler_resends.labels(action.stage).inc()
                log.info("re-enqueued batch %d of %s", action.batch, action.stage, extra=context)
            elif action.action == "redispatch":
                chain.send(app, action.document_id, action.token, action.stage)
                sent += 1
                m.reconciler_resends.labels(action.stage).inc()
                log.info("re-enqueued from %s", action.stage, extra=context)
            else:
                m.reconciler_failures.labels(action.stage).inc()
                log.warning("failed after too many attempts", extra=context)
                ended(action.document_id)
    # The safety net of fair share: a slot freed by a process that died before it
    # admitted the next document is filled here.
    sent += admit_all()
    return sent
