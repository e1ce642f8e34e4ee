"""The audit log and retention on the real stack: who did what, and old documents gone for good."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from aegis.persistence.db import session_scope
from aegis.persistence.models import Chunk, Document, PageText, Tenant, utcnow
from aegis.persistence.storage import VolumeBlobStore
from aegis.services import limits
from aegis.services.tenants import create_key
from tests.harness import ApiClient, Stack, wait_for


def _tenant(stack: Stack) -> tuple[str, str, ApiClient]:
    name = f"audit-{uuid.uuid4().hex[:10]}"
    api = ApiClient(stack.url, stack.create_tenant(name))
    with session_scope(stack.settings()) as session:
        tenant_id = session.scalars(select(Tenant.id).where(Tenant.name == name)).one()
    return name, tenant_id, api


def test_each_action_is_audited_with_its_key_and_only_the_tenants_admin_reads_it(stack: Stack) -> None:
    name, _tenant_id, admin = _tenant(stack)
    with session_scope(stack.settings()) as session:
        writer_key = create_key(session, name, "write")
        reader_key = create_key(session, name, "read")
    writer = ApiClient(stack.url, writer_key.api_key)
    reader = ApiClient(stack.url, reader_key.api_key)
    doc = writer.upload_bytes("a.txt", f"audited {uuid.uuid4().hex}\n".encode()).json()
    writer.wait(doc["id"])
    assert writer.session.post(f"{stack.url}/v1/documents/{doc['id']}/reprocess", timeout=30).status_code == 202
    writer.wait(doc["id"])
    assert reader.get("/v1/search?q=audited").status_code == 200
    assert reader.session.delete(f"{stack.url}/v1/documents/{doc['id']}", timeout=30).status_code == 403
    assert writer.session.delete(f"{stack.url}/v1/documents/{doc['id']}", timeout=30).status_code == 204
    # Only an admin key reads the log.
    refused = writer.get("/v1/audit")
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    events = admin.get(f"/v1/audit?document_id={doc['id']}").json()["events"]
    seen = [(e["action"], e["outcome"], e["key_id"]) for e in events]
    assert seen == [
        ("upload", "accepted", writer_key.key_id),
        ("reprocess", "accepted", writer_key.key_id),
        ("auth.denied", "insufficient_scope", reader_key.key_id),
        ("delete", "deleted", writer_key.key_id),
    ]
    assert all(e["client"] == "127.0.0.1" and e["request_id"] for e in events)
    searches = admin.get("/v1/audit?action=search").json()["events"]
    assert [(e["key_id"], e["detail"]["query_chars"]) for e in searches] == [(reader_key.key_id, 7)]
    # Paging: one event a page, each page after the last.
    first = admin.get("/v1/audit?limit=1").json()
    second = admin.get(f"/v1/audit?limit=1&cursor={first['next_cursor']}").json()
    assert first["events"][0]["id"] < second["events"][0]["id"]
    # Another tenant's admin sees none of it, even asking for the document by id.
    _other_name, _other_id, other = _tenant(stack)
    assert other.get(f"/v1/audit?document_id={doc['id']}").json()["events"] == []
    assert all(e["action"] != "upload" for e in other.get("/v1/audit").json()["events"])
    bad = admin.get("/v1/audit?since=yesterday")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"


def test_retention_deletes_exactly_the_old_documents_with_their_vectors_and_files(stack: Stack) -> None:
    from tasks.app import app

    _name, tenant_id, api = _tenant(stack)
    run = uuid.uuid4().hex
    old = api.wait(api.upload_bytes("old.txt", f"an old note {run}\n".encode()).json()["id"])
    new = api.wait(api.upload_bytes("new.txt", f"a new note {run}\n".encode()).json()["id"])
    _other_name, other_id, other = _tenant(stack)
    kept = other.wait(other.upload_bytes("other.txt", f"another tenant's old note {run}\n".encode()).json()["id"])
    with session_scope(stack.settings()) as session:
        session.execute(update(Document).where(Document.id.in_([old["id"], kept["id"]]))
                        .values(created_at=utcnow() - timedelta(days=3)))
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        limits.set_limits(tenant, {"retention_days": 2})
        assert session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == old["id"]))
    store = VolumeBlobStore(stack.settings().storage_dir)
    assert store.path_for(tenant_id, old["sha256"]).exists()
    # What beat sends; the workers run it.
    with app.connection_for_write(stack.env["AEGIS_BROKER_URL"]) as conn:
        app.send_task("aegis.retention", queue="validate", connection=conn)
    wait_for(lambda: api.get(f"/v1/documents/{old['id']}").status_code == 404, 60, message="retention")
    assert api.get(f"/v1/documents/{new['id']}").status_code == 200
    assert other.get(f"/v1/documents/{kept['id']}").status_code == 200  # no retention for that tenant
    assert not store.path_for(tenant_id, old["sha256"]).exists()
    assert store.path_for(tenant_id, new["sha256"]).exists()
    with session_scope(stack.settings()) as session:
        for table in (Chunk, PageText):
            assert not session.scalar(select(func.count()).select_from(table).where(table.document_id == old["id"]))
    events = api.get("/v1/audit?action=retention.delete").json()["events"]
    assert [(e["document_id"], e["outcome"], e["key_id"]) for e in events] == [(old["id"], "deleted", None)]
    assert other_id != tenant_id
