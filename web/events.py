"""``GET /v1/documents/<id>/events``: stage transitions as Server-Sent Events.

With Redis, events come from pub/sub (``aegis:events:<tenant>``); in the embedded
mode (no Redis) the row is polled. Either way the first event is a snapshot of the
document, so a client that connects late misses nothing, and the stream ends when
the document does.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, g, stream_with_context
from sqlalchemy.orm import Session, sessionmaker

from aegis.services import documents as docs
from aegis.services import events
from aegis.vocabulary import TERMINAL_STATUSES, DocumentStatus, ErrorCode
from web.auth import require_tenant
from web.context import sessions
from web.db import db_session, release_session
from web.errors import ApiError, problem
from web.eventhub import EventHub, event_hub
from web.streams import RETRY_AFTER_SECONDS, stream_slots

bp = Blueprint("events", __name__, url_prefix="/v1/documents")

KEEPALIVE_SECONDS = 15.0
# A stream holds a greenlet, a socket and a Redis connection, not a thread (the gateway
# runs gevent workers); still, bounded: clients reconnect, and the snapshot means they miss nothing.
MAX_STREAM_SECONDS = 120.0
TERMINAL = TERMINAL_STATUSES


def _sse(data: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, default=str)}\n\n"


Sessions = sessionmaker[Session]


def _snapshot(new_session: Sessions, tenant_id: str, document_id: str) -> dict[str, Any] | None:
    # A short session per look: a stream lives for minutes and must not pin a connection.
    with new_session() as session:
        document = docs.get_document(session, tenant_id, document_id)
        return docs.to_dict(document) if document else None


Tick = Callable[[], None]


def _stream(
    hub: EventHub | None, new_session: Sessions, tenant_id: str, document_id: str, tick: Tick
) -> Iterator[str]:
    snapshot = _snapshot(new_session, tenant_id, document_id)
    if snapshot is None:
        return
    yield _sse({"document_id": document_id, "event": "snapshot", "status": snapshot["status"],
                "stage": snapshot["stage"], "document": snapshot})
    if snapshot["status"] in TERMINAL:
        return
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    if hub is not None:
        yield from _from_pubsub(hub, new_session, tenant_id, document_id, deadline, tick)
    else:
        yield from _from_polling(new_session, tenant_id, document_id, snapshot, deadline)


def _from_pubsub(
    hub: EventHub, new_session: Sessions, tenant_id: str, document_id: str, deadline: float, tick: Tick
) -> Iterator[str]:
    with hub.follow(events.channel(tenant_id)) as subscription:
        # Re-check after subscribing: the document may have ended in between.
        current = _snapshot(new_session, tenant_id, document_id)
        if current is None or current["status"] in TERMINAL:
            if current:
                yield _sse({"document_id": document_id, "event": "snapshot", "status": current["status"],
                            "stage": current["stage"], "document": current})
            return
        last_beat = time.monotonic()
        while time.monotonic() < deadline:
            if time.monotonic() - last_beat > KEEPALIVE_SECONDS:
                last_beat = time.monotonic()
                tick()
                yield ": keep-alive\n\n"
            try:
                message = subscription.get(timeout=1.0)
            except queue.Empty:
                continue
            payload = json.loads(message["data"])
            if payload.get("document_id") != document_id:
                continue
            yield _sse(payload)
            if payload.get("event") in ("document_succeeded", "failed", "rejected"):
                return


def _from_polling(
    new_session: Sessions, tenant_id: str, document_id: str, last: dict[str, Any], deadline: float
) -> Iterator[str]:
    seen = {name: run["status"] for name, run in last["stages"].items()}
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = _snapshot(new_session, tenant_id, document_id)
        if current is None:
            return
        for name, run in current["stages"].items():
            if seen.get(name) != run["status"]:
                seen[name] = run["status"]
                yield _sse({"document_id": document_id, "stage": name, "event": run["status"]})
        if current["status"] in TERMINAL:
            event = "document_succeeded" if current["status"] == DocumentStatus.SUCCEEDED else current["status"]
            yield _sse({"document_id": document_id, "stage": None, "event": event})
            return


@bp.get("/<document_id>/events")
@require_tenant
def document_events(document_id: str) -> Response:
    document = docs.get_document(db_session(), g.tenant.id, document_id)
    if document is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    tenant_id, canonical_id = g.tenant.id, document.id
    # The stream re-reads the row with short sessions of its own; the request's
    # session (and its pooled connection) must not stay open for minutes.
    release_session()
    slots = stream_slots()
    slot = slots.acquire(tenant_id)
    if slot is None:
        refused = problem(ErrorCode.TOO_MANY_STREAMS)
        refused.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return refused
    try:
        stream = _stream(event_hub(), sessions(), tenant_id, canonical_id, lambda: slots.renew(slot))
        response = Response(stream_with_context(stream), mimetype="text/event-stream")
    except BaseException:
        slots.release(slot)
        raise
    # On close, not in the generator's finally: a generator never started never runs it.
    response.call_on_close(lambda: slots.release(slot))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
