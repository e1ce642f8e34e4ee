"""Per-tenant quotas and rate limits, counted where every gateway replica sees them.

The counters live in Redis (the events/broker Redis) so that two gateway
processes, or ten, share one count; each check-and-add is one Lua script, so two
replicas cannot both take the last unit. Daily quotas count per UTC day (the key
names the day and expires after it); the request rate is a token bucket whose
clock is Redis's own ``TIME``, so replicas with skewed clocks agree. Stored bytes
are not a counter: the database is the record (the sum of the tenant's document
sizes), so a deletion frees room at once.

Without Redis (the embedded ``aegis dev`` mode) the same logic runs in process
memory: good enough for one machine, and nothing else has to change.

Every limit is optional: a tenant without one is not counted at all.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aegis.persistence.models import Document, Tenant
from aegis.services.tenants import TenantError

#: The per-day quotas, by the name clients see in a ``quota_exceeded`` answer.
DAILY_QUOTAS = ("max_documents_per_day", "max_bytes_per_day", "max_pages_per_day")
#: Everything ``aegis tenant set-limits`` sets; each is a nullable ``tenants`` column.
LIMIT_FIELDS = (
    *DAILY_QUOTAS, "max_stored_bytes", "requests_per_second", "rate_burst", "retention_days", "max_in_flight",
)

# Check every (key, amount, limit) first, then add them all: an upload that would
# pass the documents quota but not the bytes quota charges neither.
_ADD = """
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + tonumber(ARGV[2 * i]) > tonumber(ARGV[2 * i + 1]) then return {i, used} end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[2 * i])
  redis.call('EXPIRE', KEYS[i], ARGV[1])
end
return {0, 0}
"""

# A token bucket refilled at ARGV[1] tokens a second up to ARGV[2]; Redis's clock.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return {allowed, tostring(tokens)}
"""


@dataclass(frozen=True)
class RateDecision:
    """One request against the tenant's bucket, and what the headers say about it."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class QuotaExceeded(Exception):
    """A quota the request would pass; ``retry_after`` is None when time alone frees nothing."""

    def __init__(self, quota: str, limit: int, used: int, retry_after: int | None) -> None:
        self.quota, self.limit, self.used, self.retry_after = quota, limit, used, retry_after
        super().__init__(f"The tenant's {quota} quota of {limit} is used up ({used} used).")


class Counters(Protocol):
    def add(self, items: Sequence[tuple[str, int, int]], ttl: int) -> tuple[int, int]:
        """Add every ``(key, amount, limit)`` if none would pass its limit.

        Returns ``(0, 0)``, or the 1-based index of the first item over its limit and its current count.
        """

    def refund(self, items: Sequence[tuple[str, int]]) -> None: ...

    def take(self, key: str, rate: float, burst: int) -> tuple[bool, float]:
        """Take one token; returns whether there was one and the tokens left."""


class RedisCounters:
    def __init__(self, url: str) -> None:
        self.url = url

    def _client(self) -> Any:
        from aegis.services.events import redis_client

        return redis_client(self.url)

    def add(self, items: Sequence[tuple[str, int, int]], ttl: int) -> tuple[int, int]:
        args: list[Any] = [ttl]
        for _key, amount, limit in items:
            args += [amount, limit]
        index, used = self._client().eval(_ADD, len(items), *(k for k, _, _ in items), *args)
        return int(index), int(used)

    def refund(self, items: Sequence[tuple[str, int]]) -> None:
        pipe = self._client().pipeline()
        for key, amount in items:
            pipe.decrby(key, amount)
        pipe.execute()

    def take(self, key: str, rate: float, burst: int) -> tuple[bool, float]:
        allowed, tokens = self._client().eval(_TAKE, 1, key, rate, burst)
        return bool(allowed), float(tokens)


class MemoryCounters:
    """The same counters in this process (embedded mode): a lock instead of Lua."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._buckets: dict[str, tuple[float, float]] = {}

    def add(self, items: Sequence[tuple[str, int, int]], ttl: int) -> tuple[int, int]:
        with self._lock:
            for i, (key, amount, limit) in enumerate(items, start=1):
                used = self._counts.get(key, 0)
                if used + amount > limit:
                    return i, used
            for key, amount, _limit in items:
                self._counts[key] = self._counts.get(key, 0) + amount
        return 0, 0

    def refund(self, items: Sequence[tuple[str, int]]) -> None:
        with self._lock:
            for key, amount in items:
                self._counts[key] = self._counts.get(key, 0) - amount

    def take(self, key: str, rate: float, burst: int) -> tuple[bool, float]:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - at) * rate)
            allowed = tokens >= 1
            if allowed:
                tokens -= 1
            self._buckets[key] = (tokens, now)
        return allowed, tokens


_memory = MemoryCounters()


def counters(redis_url: str | None) -> Counters:
    """Redis when the installation has one, else this process's memory."""
    return RedisCounters(redis_url) if redis_url else _memory


def burst_of(tenant: Tenant) -> int:
    """The bucket's size: the tenant's ``rate_burst``, else one second's worth (at least 1)."""
    rate = tenant.requests_per_second or 0
    return int(tenant.rate_burst or max(1, math.ceil(rate)))


def take_request(store: Counters, tenant: Tenant) -> RateDecision | None:
    """Count one request against the tenant's rate; None when it has no rate limit."""
    rate = tenant.requests_per_second
    if not rate:
        return None
    burst = burst_of(tenant)
    allowed, tokens = store.take(f"aegis:rate:{tenant.id}", float(rate), burst)
    retry_after = 0 if allowed else max(1, math.ceil((1 - tokens) / rate))
    return RateDecision(allowed, burst, max(0, math.floor(tokens)), retry_after)


def _day(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%d")


def seconds_to_next_day(now: datetime) -> int:
    """When a daily window frees: the next UTC midnight."""
    now = now.astimezone(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, math.ceil((midnight - now).total_seconds()))


def _daily_key(tenant_id: str, quota: str, now: datetime) -> str:
    return f"aegis:quota:{tenant_id}:{quota}:{_day(now)}"


@dataclass(frozen=True)
class Charge:
    """What was counted, so a request that fails afterwards can give it back."""

    items: tuple[tuple[str, int], ...] = ()

    def refund(self, store: Counters) -> None:
        if self.items:
            store.refund(self.items)


def charge_daily(
    store: Counters, tenant: Tenant, amounts: dict[str, int], now: datetime | None = None
) -> Charge:
    """Count ``amounts`` (quota name -> amount) against the tenant's daily quotas, all or none.

    Raises :class:`QuotaExceeded` naming the first quota the amounts would pass.
    """
    return _charge(store, tenant.id, {q: (a, getattr(tenant, q)) for q, a in amounts.items()}, now)


def charge_pages(store: Counters, tenant_id: str, limit: int | None, pages: int) -> Charge:
    """Count a document's pages, known once its metadata is (the metadata stage calls this)."""
    return _charge(store, tenant_id, {"max_pages_per_day": (pages, limit)}, None)


def _charge(
    store: Counters, tenant_id: str, wanted: dict[str, tuple[int, int | None]], now: datetime | None
) -> Charge:
    now = now or datetime.now(UTC)
    items: list[tuple[str, int, int]] = []
    names: list[str] = []
    for quota, (amount, limit) in wanted.items():
        if limit is None or amount <= 0:
            continue
        items.append((_daily_key(tenant_id, quota, now), amount, int(limit)))
        names.append(quota)
    if not items:
        return Charge()
    index, used = store.add(items, ttl=seconds_to_next_day(now) + 3600)
    if index:
        raise QuotaExceeded(names[index - 1], items[index - 1][2], used, seconds_to_next_day(now))
    return Charge(tuple((key, amount) for key, amount, _ in items))


def stored_bytes(session: Session, tenant_id: str) -> int:
    """The tenant's stored bytes: the database is the record, so a deletion frees room at once."""
    return int(session.scalar(select(func.coalesce(func.sum(Document.size), 0)).where(
        Document.tenant_id == tenant_id)) or 0)


def check_storage(session: Session, tenant: Tenant, adding: int) -> None:
    """Refuse ``adding`` more bytes past ``max_stored_bytes``; waiting frees nothing (no Retry-After)."""
    if tenant.max_stored_bytes is None or adding <= 0:
        return
    used = stored_bytes(session, tenant.id)
    if used + adding > tenant.max_stored_bytes:
        raise QuotaExceeded("max_stored_bytes", int(tenant.max_stored_bytes), used, None)


def describe(tenant: Tenant) -> dict[str, Any]:
    """The tenant's limits as ``aegis tenant list --json`` shows them (null: no limit)."""
    return {name: getattr(tenant, name) for name in LIMIT_FIELDS}


def set_limits(tenant: Tenant, changes: Mapping[str, float | None]) -> dict[str, Any]:
    """Apply ``changes`` (0 clears a limit); returns the tenant's limits afterwards."""
    for name, value in changes.items():
        if name not in LIMIT_FIELDS:
            raise TenantError(f"Unknown limit {name!r}.")
        if value is not None and value < 0:
            raise TenantError(f"{name} must be 0 (no limit) or more, not {value}.")
        setattr(tenant, name, value or None)
    return describe(tenant)
