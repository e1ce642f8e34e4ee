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
SENTINEL_PORT = 26379
MAX_CONNECTIONS = 50


def channel(tenant_id: str) -> str:
    return f"aegis:events:{tenant_id}"


def redis_client(url: str, master: str | None = None) -> Any:
    """One client per (process, URL); created lazily, never at import.

    A blocking pool: under the gateway's gevent worker hundreds of greenlets may
    want a connection at once (every event stream ending together), and they
    should wait their turn for one of ``MAX_CONNECTIONS``, not fail with
    "Too many connections" as redis-py's default pool does past its cap.
    """
    import redis

    key = (os.getpid(), url)
    client = _clients.get(key)
    if client is None and url.startswith("sentinel://"):
        client = _clients[key] = sentinel_client(url, master or "mymaster")
    if client is None:
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=10, socket_timeout=5, socket_connect_timeout=5
        )
        client = redis.Redis(connection_pool=pool)
        _clients[key] = client
    return client


def sentinel_client(url: str, master: str) -> Any:
    """The current master of ``master``, found through the Sentinels of ``url``.

    ``url`` is kombu's form, ``sentinel://[user:password@]host:port;sentinel://host:port/db``:
    the same string serves the broker and the events. The password is the Redis
    nodes' (as kombu uses it). The client re-asks the Sentinels after a failover:
    a write refused by a demoted master (READONLY) drops the connection.
    """
    from urllib.parse import unquote, urlsplit

    from redis.sentinel import Sentinel

    hosts: list[tuple[str, int]] = []
    db, username, password = 0, None, None
    for part in filter(None, (p.strip() for p in url.split(";"))):
        parsed = urlsplit(part)
        hosts.append((parsed.hostname or "127.0.0.1", parsed.port or SENTINEL_PORT))
        if parsed.password:
            username, password = parsed.username or None, unquote(parsed.password)
        if parsed.path.strip("/"):
            db = int(parsed.path.strip("/"))
    timeouts = {"socket_timeout": 5, "socket_connect_timeout": 5}
    sentinel = Sentinel(hosts, sentinel_kwargs=dict(timeouts), **timeouts)
    return sentinel.master_for(master, db=db, username=username, password=password, **timeouts)


def _payload(document_id: str, stage: str | None, event: str, extra: dict[str, Any]) -> str:
    return json.dumps({"document_id": document_id, "stage": stage, "event": event, "at": utcnow().isoformat(), **extra})


def publish(settings: Settings, tenant_id: str, document_id: str, stage: str | None, event: str, **extra: Any) -> None:
    if not settings.events_url:
        return
    try:
        redis_client(settings.events_url, settings.sentinel_master).publish(
            channel(tenant_id), _payload(document_id, stage, event, extra)
        )
    except Exception as exc:  # noqa: BLE001 - events are best effort by design
        log.warning("could not publish event: %s", exc)


def publish_all(
    settings: Settings, tenant_id: str, document_id: str, events: list[tuple[str | None, str, dict[str, Any]]]
) -> None:
    """Several events of one document, in order, in one round trip (a pipeline, not a transaction).

    Every subscriber sees them as if published one by one: the last stage's
    ``succeeded`` and the document's ``document_succeeded`` go together.
    """
    if not settings.events_url or not events:
        return
    try:
        pipe = redis_client(settings.events_url, settings.sentinel_master).pipeline(transaction=False)
        for stage, event, extra in events:
            pipe.publish(channel(tenant_id), _payload(document_id, stage, event, extra))
        pipe.execute()
    except Exception as exc:  # noqa: BLE001 - events are best effort by design
        log.warning("could not publish events: %s", exc)
