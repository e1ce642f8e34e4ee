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
MAX_CONNECTIONS = 50


def channel(tenant_id: str) -> str:
    return f"aegis:events:{tenant_id}"


def redis_client(url: str) -> Any:
    """One client per (process, URL); created lazily, never at import.

    A blocking pool: under the gateway's gevent worker hundreds of greenlets may
    want a connection at once (every event stream ending together), and they
    should wait their turn for one of ``MAX_CONNECTIONS``, not fail with
    "Too many connections" as redis-py's default pool does past its cap.
    """
    import redis

    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None:
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=10, socket_timeout=5, socket_connect_timeout=5
        )
        client = redis.Redis(connection_pool=pool)
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
