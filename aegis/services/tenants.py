"""Tenants and their API keys.

Keys are random, shown once, and stored only as SHA-256: a database leak does not
leak working keys. Lookup is by hash (an indexed equality), then confirmed with a
constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from aegis.persistence.models import ApiKey, Tenant, utcnow
from aegis.vocabulary import KEY_SCOPES

KEY_PREFIX = "aeg_"
#: What a key may do, each scope including the ones before it: ``read`` lists, gets,
#: reads content, follows events and searches; ``write`` adds upload, reprocess and
#: delete; ``admin`` adds the tenant's audit log and settings.
SCOPES = KEY_SCOPES
DEFAULT_SCOPE = "write"


def allows(scope: str, needed: str) -> bool:
    """Whether a key of ``scope`` may do what needs ``needed`` (an unknown scope may do nothing)."""
    return scope in SCOPES and SCOPES.index(scope) >= SCOPES.index(needed)


def abilities(scope: str) -> list[str]:
    """The scopes a key of ``scope`` holds, for people (the web page, ``/v1/me``)."""
    return [s for s in SCOPES if allows(scope, s)]


class TenantError(Exception):
    """A tenant command that cannot be carried out (name taken, unknown tenant...)."""


@dataclass(frozen=True)
class IssuedKey:
    tenant_id: str
    tenant_name: str
    key_id: str
    api_key: str
    scope: str = DEFAULT_SCOPE


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def _issue(session: Session, tenant: Tenant, scope: str = DEFAULT_SCOPE) -> IssuedKey:
    if scope not in SCOPES:
        raise TenantError(f"A key's scope is one of {', '.join(SCOPES)}, not {scope!r}.")
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(tenant_id=tenant.id, key_hash=hash_key(api_key), prefix=api_key[:10], scope=scope)
    session.add(key)
    session.flush()
    return IssuedKey(tenant.id, tenant.name, key.id, api_key, scope)


def create_tenant(session: Session, name: str) -> IssuedKey:
    name = name.strip()
    if not name or len(name) > 200:
        raise TenantError("A tenant name must be 1 to 200 characters.")
    if session.scalars(select(Tenant).where(Tenant.name == name)).first():
        raise TenantError(f"A tenant named {name!r} already exists.")
    tenant = Tenant(name=name)
    session.add(tenant)
    session.flush()
    # The tenant's first key is its owner's: everything, audit log included.
    return _issue(session, tenant, "admin")


def find_tenant(session: Session, name_or_id: str) -> Tenant:
    tenant = session.scalars(
        select(Tenant).where((Tenant.name == name_or_id) | (Tenant.id == name_or_id))
    ).first()
    if tenant is None:
        raise TenantError(f"No tenant named {name_or_id!r}.")
    return tenant


def create_key(session: Session, tenant_name: str, scope: str = DEFAULT_SCOPE) -> IssuedKey:
    return _issue(session, find_tenant(session, tenant_name), scope)


def revoke_key(session: Session, key_id_or_prefix: str) -> ApiKey:
    key = session.scalars(
        select(ApiKey).where((ApiKey.id == key_id_or_prefix) | (ApiKey.prefix == key_id_or_prefix))
    ).first()
    if key is None:
        raise TenantError(f"No API key {key_id_or_prefix!r}.")
    key.revoked_at = key.revoked_at or utcnow()
    # This process forgets it at once; other processes within KEY_CACHE_SECONDS.
    KEY_CACHE.forget(key.key_hash)
    return key


def authenticate_key(session: Session, api_key: str) -> ApiKey | None:
    """The active key row (with its tenant and scope), or None."""
    if not api_key or not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    digest = hash_key(api_key)
    # The tenant in the same round trip: every authenticated request needs it.
    key = session.scalars(
        select(ApiKey).options(joinedload(ApiKey.tenant)).where(ApiKey.key_hash == digest)
    ).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        return None
    return key


def authenticate(session: Session, api_key: str) -> Tenant | None:
    """The tenant owning an active key, or None."""
    key = authenticate_key(session, api_key)
    return key.tenant if key is not None else None


#: How long a process trusts a key it verified: a revocation, or a change of the
#: tenant's limits, reaches a gateway process that did not make it within this bound.
KEY_CACHE_SECONDS = 5.0
#: Most keys remembered per process (memory stays flat however many keys call).
KEY_CACHE_SIZE = 1024


@dataclass(frozen=True)
class VerifiedKey:
    """What a request needs of its key: its id, scope and a detached copy of the tenant."""

    key_id: str
    scope: str
    tenant: Tenant


class KeyCache:
    """Keys verified against the database in the last ``seconds``, by the key's SHA-256.

    Checking a key is cheap (one SHA-256; keys are random, so no slow hash is
    needed), but reading its row is a pool checkout, a pre-ping and a transaction
    of its own: four round trips, about a quarter of a small upload's gateway
    CPU. Only active keys are remembered; an unknown or revoked key is read again
    every time. Thread- and greenlet-safe: entries are replaced, never mutated.
    """

    def __init__(self, seconds: float = KEY_CACHE_SECONDS, size: int = KEY_CACHE_SIZE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, VerifiedKey]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> VerifiedKey | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if entry[0] <= self.clock():
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, digest: str, verified: VerifiedKey) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._entries[digest] = (self.clock() + self.seconds, verified)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, digest: str | None = None) -> None:
        """Drop one key (``None``: every key), e.g. on revocation in this process."""
        with self._lock:
            if digest is None:
                self._entries.clear()
            else:
                self._entries.pop(digest, None)


KEY_CACHE = KeyCache()


def verify_key(session: Session, api_key: str, cache: KeyCache = KEY_CACHE) -> VerifiedKey | None:
    """:func:`authenticate_key` for every request of a process, remembered for ``cache.seconds``.

    The tenant comes back detached from ``session`` (its columns loaded): callers
    that need it in a session merge it (``session.merge(tenant, load=False)``).
    """
    if not api_key or not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        return None
    digest = hash_key(api_key)
    found = cache.get(digest)
    if found is not None:
        return found
    key = authenticate_key(session, api_key)
    if key is None:
        return None
    tenant = key.tenant
    # Shared by later requests: out of this session, which will not touch it again.
    session.expunge(key)
    session.expunge(tenant)
    verified = VerifiedKey(key.id, key.scope, tenant)
    cache.put(digest, verified)
    return verified
