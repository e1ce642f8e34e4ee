"""Webhook delivery: one task per ended document, retried with backoff on failure."""

from __future__ import annotations

import logging

import requests
from sqlalchemy import select

from aegis.observability.metrics import metrics
from aegis.persistence.db import session_scope
from aegis.persistence.models import Document, Tenant
from aegis.services import webhooks
from aegis.services.documents import to_dict
from aegis.vocabulary import TERMINAL_STATUSES
from tasks.app import app
from tasks.base import backoff, settings

log = logging.getLogger("aegis.services.webhooks")
MAX_DELIVERIES = 8


@app.task(name="aegis.webhook", bind=True, max_retries=MAX_DELIVERIES - 1, acks_late=True,
          time_limit=60, soft_time_limit=45, ignore_result=True)
def webhook(self, document_id: str) -> str:  # type: ignore[no-untyped-def]
    s = settings()
    with session_scope(s) as session:
        document = session.get(Document, document_id)
        if document is None:
            return "gone"
        tenant = session.get(Tenant, document.tenant_id)
        url = document.callback_url or (tenant.callback_url if tenant else None)
        if not url or document.status not in TERMINAL_STATUSES:
            return "none"
        body = webhooks.payload(to_dict(document))
    context = {"document_id": document_id}
    try:
        status = webhooks.deliver(url, body, s)
    except webhooks.WebhookError as exc:
        metrics().webhook_deliveries.labels("refused").inc()
        log.warning("webhook refused: %s", exc.message, extra=context)
        return exc.code
    except requests.RequestException as exc:
        metrics().webhook_deliveries.labels("failed" if self.request.retries + 1 < MAX_DELIVERIES else "gave_up").inc()
        log.info("webhook attempt %d failed: %s", self.request.retries + 1, exc, extra=context)
        raise self.retry(countdown=backoff(self.request.retries, base=5, cap=600)) from exc
    if status >= 300:
        log.info("webhook attempt %d got HTTP %d", self.request.retries + 1, status, extra=context)
        if self.request.retries + 1 >= MAX_DELIVERIES:
            metrics().webhook_deliveries.labels("gave_up").inc()
            return f"gave up: HTTP {status}"
        metrics().webhook_deliveries.labels("failed").inc()
        raise self.retry(countdown=backoff(self.request.retries, base=5, cap=600))
    metrics().webhook_deliveries.labels("delivered").inc()
    log.info("webhook delivered (HTTP %d)", status, extra=context)
    return "delivered"


def wants_webhook(document_id: str) -> bool:
    """Whether the document or its tenant has a callback URL (one indexed read).

    Most documents have none: asking here spares every one of them a webhook task
    (a publish, a pick-up on the validate queue, two reads and an ack) that
    would only answer "none". When in doubt (the database is unreachable) the
    task is queued and decides itself, as before.
    """
    try:
        with session_scope(settings()) as session:
            row = session.execute(
                select(Document.callback_url, Tenant.callback_url)
                .join(Tenant, Tenant.id == Document.tenant_id)
                .where(Document.id == document_id)
            ).first()
    except Exception:  # noqa: BLE001 - the task re-reads everything anyway
        return True
    return row is not None and bool(row[0] or row[1])


def notify_end(document_id: str) -> None:
    """Queue the webhook for a document that just ended; never fails the caller."""
    if not wants_webhook(document_id):
        return
    try:
        webhook.apply_async((document_id,), queue="validate")
    except Exception:  # noqa: BLE001 - the document's outcome is already recorded
        log.exception("could not queue webhook", extra={"document_id": document_id})
