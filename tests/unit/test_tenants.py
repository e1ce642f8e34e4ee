"""API keys: shown once, stored hashed, revocable."""

from __future__ import annotations

from pathlib import Path

import pytest

from aegis.config import load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import ApiKey
from aegis.services.tenants import TenantError, authenticate, create_key, create_tenant, hash_key, revoke_key


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
