"""Caps on open event streams: per tenant (across every gateway process) and per process.

A stream is cheap under the gevent worker, but not free: a socket, a greenlet and
a Redis pub/sub connection for up to ``MAX_STREAM_SECONDS``. Without a cap one
tenant could open thousands and starve everybody else of file descriptors and
Redis connections, so the per-tenant count is kept in Redis (a sorted set of
leases that expire, so a killed process cannot leak slots for long) and a
per-process count bounds what one process holds whatever the tenants do.
Beyond either cap the request gets 429 ``too_many_streams`` with ``Retry-After``.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from aegis.config import GatewayLimits
from aegis.services import events

log = logging.getLogger("aegis.gateway.streams")
EXTENSION = "aegis.streams"
# A lease outlives the gap between two renewals (every keep-alive) several times over.
LEASE_SECONDS = 60
RETRY_AFTER_SECONDS = 10

# Drop expired leases, then add ours if there is room; atomic, so two processes
# cannot both take the last slot.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _key(tenant_id: str) -> str:
    return f"aegis:streams:{tenant_id}"


@dataclass
class Slot:
    tenant_id: str
    member: str = field(default_factory=lambda: uuid.uuid4().hex)
    released: bool = False


class StreamSlots:
    """Hands out stream slots; ``acquire`` returns None when a cap is reached."""

    def __init__(self, limits: GatewayLimits, redis_url: str | None, master: str | None = None) -> None:
        self.limits = limits
        self.redis_url = redis_url
        self.master = master
        self._lock = threading.Lock()
        self._open = 0
        self._by_tenant: dict[str, int] = {}  # only without Redis

    def _redis(self) -> Any:
        return events.redis_client(self.redis_url or "", self.master)

    def acquire(self, tenant_id: str) -> Slot | None:
        with self._lock:
            if self._open >= self.limits.max_streams_per_process:
                return None
            if self.redis_url is None and self._by_tenant.get(tenant_id, 0) >= self.limits.max_streams_per_tenant:
                return None
            self._open += 1
            if self.redis_url is None:
                self._by_tenant[tenant_id] = self._by_tenant.get(tenant_id, 0) + 1
        slot = Slot(tenant_id)
        if self.redis_url is not None and not self._acquire_lease(slot):
            self._forget(slot)
            return None
        return slot

    def _acquire_lease(self, slot: Slot) -> bool:
        now = time.time()
        try:
            return bool(self._redis().eval(
                _ACQUIRE, 1, _key(slot.tenant_id), now, now + LEASE_SECONDS,
                self.limits.max_streams_per_tenant, slot.member, LEASE_SECONDS * 2,
            ))
        except Exception as exc:  # noqa: BLE001 - Redis down: the per-process cap still holds
            log.warning("stream lease not recorded: %s", exc)
            return True

    def renew(self, slot: Slot) -> None:
        """Keep the lease alive while the stream is (called on every keep-alive)."""
        if self.redis_url is None or slot.released:
            return
        try:
            self._redis().zadd(_key(slot.tenant_id), {slot.member: time.time() + LEASE_SECONDS})
        except Exception as exc:  # noqa: BLE001 - the lease then expires; no harm beyond that
            log.warning("stream lease not renewed: %s", exc)

    def release(self, slot: Slot) -> None:
        if slot.released:
            return
        self._forget(slot)
        if self.redis_url is not None:
            try:
                self._redis().zrem(_key(slot.tenant_id), slot.member)
            except Exception as exc:  # noqa: BLE001 - the lease expires on its own
                log.warning("stream lease not released: %s", exc)

    def _forget(self, slot: Slot) -> None:
        with self._lock:
            if slot.released:
                return
            slot.released = True
            self._open -= 1
            if self.redis_url is None:
                left = self._by_tenant.get(slot.tenant_id, 1) - 1
                if left:
                    self._by_tenant[slot.tenant_id] = left
                else:
                    self._by_tenant.pop(slot.tenant_id, None)

    @property
    def open(self) -> int:
        return self._open


def install(app: Flask, slots: StreamSlots) -> None:
    app.extensions[EXTENSION] = slots


def stream_slots() -> StreamSlots:
    found: StreamSlots = current_app.extensions[EXTENSION]
    return found
