"""Tenants and their API keys.

Keys are random, shown once, and stored only as SHA-256: a database leak does not
leak working keys. Lookup is by hash (an indexed equality), then confirmed with a
constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
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
