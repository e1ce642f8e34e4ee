"""The reconciler, run by beat: re-sends chains that the broker lost or workers dropped."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from aegis.observability import tracing
from aegis.observability.metrics import metrics
from aegis.persistence.db import session_scope
from aegis.pipeline import admission, brokerloss, chain, reconciler
from aegis.pipeline.reconciler import ReconcileAction
from tasks.admission import admit_all, ended
from tasks.app import app
from tasks.base import settings

log = logging.getLogger("aegis.reconcile")
# How long the workers get to say what they are running after a broker loss.
INSPECT_TIMEOUT = 2.0


@app.task(name="aegis.reconcile", ignore_result=True, time_limit=60, soft_time_limit=50, acks_late=False)
def reconcile() -> int:
    s = settings()
    actions = _after_broker_loss() if s.broker_loss_check and brokerloss.supported(s.broker_url) else []
    with session_scope(s) as session:
        actions += reconciler.reconcile(session, s)
    return _send(actions)


@contextmanager
def _marker() -> Iterator[brokerloss.Marker]:
    """The marker on the broker this app publishes to (its own connection for RabbitMQ)."""
    with app.connection_for_write() as connection:
        if brokerloss.scheme(connection.as_uri()) in brokerloss.AMQP_SCHEMES:
            yield brokerloss.AmqpMarker(connection)
        else:
            # kombu's Redis (and Sentinel) channel holds a redis-py client on the broker's db.
            yield brokerloss.RedisMarker(connection.default_channel.client)


def _active_tasks() -> set[str] | None:
    """Task ids the workers are running; None when they could not be asked."""
    try:
        replies = app.control.inspect(timeout=INSPECT_TIMEOUT).active() or {}
    except Exception:  # noqa: BLE001 - the broker went away again: try on the next pass
        log.warning("could not ask the workers what they run", exc_info=True)
        return None
    return {str(task["id"]) for tasks in replies.values() for task in tasks or ()}


def _after_broker_loss() -> list[ReconcileAction]:
    """Check the broker's marker; after a loss, everything it held is sent again now."""
    s = settings()
    try:
        with _marker() as marker, session_scope(s) as session:
            found = brokerloss.check(session, marker)
    except Exception:  # noqa: BLE001 - broker unreachable: the ordinary pass still runs
        log.warning("could not check the broker's epoch marker", exc_info=True)
        return []
    if not found.lost or found.resend_before is None:
        return []
    active = _active_tasks()
    if active is None:
        return []
    with session_scope(s) as session:
        actions, complete = reconciler.after_broker_loss(session, found.resend_before, active)
        if complete:
            brokerloss.finish_resend(session)
    log.warning("broker lost its messages: sending %d in-flight messages again", len(actions),
                extra={"epoch": found.epoch})
    return actions


def _priorities(document_ids: list[str]) -> dict[str, int | None]:
    """Each re-sent document's priority (fair share); without the database, none (the broker's default)."""
    if not document_ids:
        return {}
    s = settings()
    try:
        with session_scope(s) as session:
            return admission.resend_priorities(session, s, document_ids)
    except Exception:  # noqa: BLE001 - a re-send without a priority still gets the document going
        log.warning("could not decide the re-sends' priorities", exc_info=True)
        return {}


def _send(actions: list[ReconcileAction]) -> int:
    sent = 0
    m = metrics()
    priorities = _priorities([a.document_id for a in actions if a.action == "redispatch"])
    for action in actions:
        context = {"document_id": action.document_id, "stage": action.stage}
        # One span per re-send, linking to the document's own trace (its upload's, long ended):
        # the stages sent from here are its children.
        with tracing.linked_span(
            f"reconcile {action.action} {action.stage}", action.traceparent,
            document_id=action.document_id, stage=action.stage, batch=action.batch, outcome=action.action,
        ):
            if action.action == "redispatch" and action.batch is not None:
                chain.send_batches(app, action.document_id, action.token, action.stage, [action.batch],
                                   priority=priorities.get(action.document_id))
                sent += 1
                m.reconciler_resends.labels(action.stage).inc()
                log.info("re-enqueued batch %d of %s", action.batch, action.stage, extra=context)
            elif action.action == "redispatch":
                chain.send(app, action.document_id, action.token, action.stage,
                           priority=priorities.get(action.document_id))
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
