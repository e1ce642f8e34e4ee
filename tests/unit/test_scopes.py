"""Key scopes in the gateway (embedded mode): a read key reads, a write key writes."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from aegis.config import load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_factory, session_scope
from aegis.services.tenants import TenantError, allows, create_key, create_tenant
from web.context import EXTENSION

WRITE_REQUESTS = [
    ("POST", "/v1/documents"),
    ("POST", "/v1/documents/{id}/reprocess"),
    ("DELETE", "/v1/documents/{id}"),
]
READ_REQUESTS = [
    ("GET", "/v1/documents"),
    ("GET", "/v1/documents/{id}"),
    ("GET", "/v1/documents/{id}/content"),
    ("GET", "/v1/search?q=note"),
    ("GET", "/v1/me"),
]


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Flask]:
    from web import create_app

    settings = load_settings({"AEGIS_DATA_DIR": str(tmp_path)})
    migrate.upgrade(settings)
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    dispose_engines()


def _clients(app: Flask) -> tuple[FlaskClient, FlaskClient, str]:
    """A read client and an admin client of one tenant, and a document of theirs."""
    settings = app.extensions[EXTENSION].settings
    name = f"t-{uuid.uuid4().hex[:8]}"
    with session_scope(settings) as session:
        owner = create_tenant(session, name)
        reader = create_key(session, name, "read")
    admin, read = app.test_client(), app.test_client()
    admin.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {owner.api_key}"
    read.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {reader.api_key}"
    uploaded = admin.post("/v1/documents", data={"file": (io.BytesIO(b"a note\n"), "n.txt")},
                          content_type="multipart/form-data")
    assert uploaded.status_code == 202
    return read, admin, uploaded.json["id"]


def test_a_read_key_gets_403_insufficient_scope_on_every_write_endpoint(app: Flask) -> None:
    read, _admin, doc_id = _clients(app)
    for method, path in WRITE_REQUESTS:
        kwargs = {}
        if method == "POST" and path == "/v1/documents":
            kwargs = {"data": {"file": (io.BytesIO(b"other\n"), "o.txt")}, "content_type": "multipart/form-data"}
        answer = read.open(path.format(id=doc_id), method=method, **kwargs)
        assert answer.status_code == 403, (method, path, answer.json)
        assert answer.json["code"] == "insufficient_scope"
        assert (answer.json["scope"], answer.json["needed"]) == ("read", "write")
    for method, path in READ_REQUESTS:
        answer = read.open(path.format(id=doc_id), method=method)
        assert answer.status_code == 200, (method, path, answer.json)
    me = read.get("/v1/me").json
    assert (me["scope"], me["scopes"]) == ("read", ["read"]) and me["key_id"]


def test_a_tenants_first_key_is_admin_and_new_keys_default_to_write(app: Flask) -> None:
    settings = app.extensions[EXTENSION].settings
    with session_scope(settings) as session:
        first = create_tenant(session, "scoped")
        second = create_key(session, "scoped")
        with pytest.raises(TenantError):
            create_key(session, "scoped", "root")
    assert (first.scope, second.scope) == ("admin", "write")
    assert allows("admin", "write") and allows("write", "read") and not allows("write", "admin")
    assert not allows("bogus", "read")


def test_keys_that_existed_before_scopes_keep_every_right(tmp_path: Path) -> None:
    settings = load_settings({"AEGIS_DATA_DIR": str(tmp_path)})
    migrate.upgrade(settings, "0002")
    with session_factory(settings)() as session:
        session.execute(text("INSERT INTO tenants (id, name, created_at, token_budget, tokens_used) "
                             "VALUES ('t1', 'old', CURRENT_TIMESTAMP, 0, 0)"))
        session.execute(text("INSERT INTO api_keys (id, tenant_id, key_hash, prefix, created_at) "
                             "VALUES ('k1', 't1', :h, 'aeg_old', CURRENT_TIMESTAMP)"), {"h": "0" * 64})
        session.commit()
    migrate.upgrade(settings)
    with session_factory(settings)() as session:
        assert session.scalar(text("SELECT scope FROM api_keys WHERE id = 'k1'")) == "admin"
    dispose_engines()
