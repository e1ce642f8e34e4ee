"""API keys: shown once, stored hashed, revocable."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.config import load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import ApiKey
from aegis.services.tenants import (
    KeyCache,
    TenantError,
    authenticate,
    create_key,
    create_tenant,
    hash_key,
    revoke_key,
    verify_key,
)


@pytest.fixture()
def settings(tmp_path: Path):
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path)})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def test_a_key_authenticates_its_tenant_and_only_its_hash_is_stored(settings) -> None:
    with session_scope(settings) as session:
        issued = create_tenant(session, "acme")
    with session_scope(settings) as session:
        assert authenticate(session, issued.api_key).name == "acme"
        stored = session.get(ApiKey, issued.key_id)
        assert stored.key_hash == hash_key(issued.api_key)
        assert issued.api_key not in (stored.key_hash, stored.prefix)


def test_wrong_or_revoked_keys_do_not_authenticate(settings) -> None:
    with session_scope(settings) as session:
        issued = create_tenant(session, "acme")
        second = create_key(session, "acme")
    with session_scope(settings) as session:
        assert authenticate(session, issued.api_key + "x") is None
        assert authenticate(session, "") is None
        revoke_key(session, issued.key_id)
    with session_scope(settings) as session:
        assert authenticate(session, issued.api_key) is None
        assert authenticate(session, second.api_key).name == "acme"


def test_tenant_names_are_unique(settings) -> None:
    with session_scope(settings) as session:
        create_tenant(session, "acme")
    with pytest.raises(TenantError), session_scope(settings) as session:
        create_tenant(session, "acme")


def test_a_verified_key_is_remembered_for_the_bound_and_then_read_again(settings) -> None:
    """Another process's revocation reaches a gateway process within ``cache.seconds``."""
    now = [100.0]
    cache = KeyCache(seconds=5, clock=lambda: now[0])
    with session_scope(settings) as session:
        issued = create_tenant(session, "acme")
    with session_scope(settings) as session:
        assert verify_key(session, issued.api_key, cache).tenant.name == "acme"
    # Revoked behind this cache's back (as by `aegis key revoke` in another process).
    with session_scope(settings) as session:
        session.get(ApiKey, issued.key_id).revoked_at = session.get(ApiKey, issued.key_id).created_at
    with session_scope(settings) as session:
        assert verify_key(session, issued.api_key, cache) is not None  # still within the bound
        now[0] += 5
        assert verify_key(session, issued.api_key, cache) is None


def test_a_key_revoked_in_this_process_stops_working_at_once_and_unknown_keys_are_not_remembered(settings) -> None:
    with session_scope(settings) as session:
        issued = create_tenant(session, "acme")
    with session_scope(settings) as session:
        assert verify_key(session, issued.api_key) is not None
        assert verify_key(session, issued.api_key + "x") is None
    with session_scope(settings) as session:
        revoke_key(session, issued.key_id)
    with session_scope(settings) as session:
        assert verify_key(session, issued.api_key) is None


def test_the_key_cache_keeps_at_most_its_size() -> None:
    cache = KeyCache(seconds=60, size=2)
    for n in range(5):
        cache.put(str(n), object())  # type: ignore[arg-type]
    assert [cache.get(str(n)) is not None for n in range(5)] == [False, False, False, True, True]
