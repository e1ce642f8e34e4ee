"""Stage transitions published on Redis pub/sub (``aegis:events:<tenant>``).

Events are a convenience for live views: a lost event never loses state, because
the database row is the truth and the gateway can always re-read it. So publishing
never raises; it logs and moves on.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from aegis.config import Settings
from aegis.persistence.models import utcnow

log = logging.getLogger(__name__)
_clients: dict[tuple[int, str], Any] = {}


def channel(tenant_id: str) -> str:
    return f"aegis:events:{tenant_id}"


def redis_client(url: str) -> Any:
    """One client per (process, URL); created lazily, never at import."""
    import redis

    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        _clients[key] = client
    return client


def publish(settings: Settings, tenant_id: str, document_id: str, stage: str | None, event: str, **extra: Any) -> None:
    if not settings.events_url:
        return
    payload = {
        "document_id": document_id,
        "stage": stage,
        "event": event,
        "at": utcnow().isoformat(),
        **extra,
    }
    try:
        redis_client(settings.events_url).publish(channel(tenant_id), json.dumps(payload))
    except Exception as exc:  # noqa: BLE001 - events are best effort by design
        log.warning("could not publish event: %s", exc)
