"""Reading and managing documents: status, listing, content, reprocess, delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from aegis.config import Settings
from aegis.persistence.db import session_scope
from aegis.persistence.models import Chunk, Document, PageText
from aegis.pipeline.registry import REGISTRY, STAGES
from aegis.services.tenants import IssuedKey
from web.context import Services

Problem = Callable[[TestResponse, int, str], dict[str, Any]]
Upload = Callable[..., TestResponse]
Listing = Callable[[], list[Any]]
Index = Callable[[str, list[str]], None]


def _set(settings: Settings, document_id: str, **fields: Any) -> None:
    """Move a document along by hand, as the workers would."""
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        for name, value in fields.items():
            setattr(document, name, value)


# --- GET /v1/documents/<id> ------------------------------------------------------


def test_a_document_shows_its_status_stages_and_error(
    upload: Upload, auth_client: FlaskClient, settings: Settings
) -> None:
    document_id = upload(b"to be rejected").get_json()["id"]
    _set(settings, document_id, status="rejected", error_code="unsupported_format",
         error_message="We cannot read this kind of file.", mime="application/x-thing")

    body = auth_client.get(f"/v1/documents/{document_id}").get_json()
    assert body["status"] == "rejected"
    assert body["error"] == {"code": "unsupported_format", "message": "We cannot read this kind of file."}
    assert body["mime"] == "application/x-thing"
    assert list(body["stages"]) == list(STAGES)
    assert set(body) >= {"id", "filename", "status", "stages", "error", "mime", "size", "sha256", "metadata", "ai"}
    assert "duplicate" not in body, "only an upload's answer says whether it was a duplicate"


@pytest.mark.parametrize("document_id", ["no-such-document", "x" * 65])
def test_an_unknown_document_is_404(auth_client: FlaskClient, problem: Problem, document_id: str) -> None:
    problem(auth_client.get(f"/v1/documents/{document_id}"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("get", "/content"), ("post", "/reprocess"), ("delete", ""), ("get", "/events")],
)
def test_another_tenants_document_is_404_on_every_endpoint(
    upload: Upload, other_client: FlaskClient, auth_client: FlaskClient, problem: Problem, method: str, suffix: str
) -> None:
    document_id = upload(b"mine alone").get_json()["id"]
    problem(getattr(other_client, method)(f"/v1/documents/{document_id}{suffix}"), 404, "not_found")
    assert auth_client.get(f"/v1/documents/{document_id}").get_json()["status"] == "queued", "still there"


# --- GET /v1/documents -----------------------------------------------------------


def test_the_list_is_newest_first_and_empty_for_a_new_tenant(upload: Upload, auth_client: FlaskClient,
                                                            other_client: FlaskClient) -> None:
    ids = [upload(f"file {n}".encode(), f"{n}.txt").get_json()["id"] for n in range(3)]
    body = auth_client.get("/v1/documents").get_json()
    assert [d["id"] for d in body["documents"]] == ids[::-1]
    assert body["next_cursor"] is None
    assert other_client.get("/v1/documents").get_json() == {"documents": [], "next_cursor": None}


def test_the_cursor_walks_every_document_once(upload: Upload, auth_client: FlaskClient) -> None:
    ids = [upload(f"file {n}".encode(), f"{n}.txt").get_json()["id"] for n in range(5)]
    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    while True:
        query = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        body = auth_client.get("/v1/documents", query_string=query).get_json()
        pages.append(len(body["documents"]))
        seen += [d["id"] for d in body["documents"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == [2, 2, 1]
    assert seen == ids[::-1]


def test_a_document_added_while_paging_does_not_shift_the_next_page(upload: Upload, auth_client: FlaskClient) -> None:
    ids = [upload(f"file {n}".encode()).get_json()["id"] for n in range(3)]
    first = auth_client.get("/v1/documents?limit=2").get_json()
    upload(b"a newer one")
    second = auth_client.get("/v1/documents", query_string={"limit": "2", "cursor": first["next_cursor"]}).get_json()
    assert [d["id"] for d in second["documents"]] == [ids[0]]


def test_the_status_filter_lists_only_that_status(upload: Upload, auth_client: FlaskClient, settings: Settings) -> None:
    queued = upload(b"waiting").get_json()["id"]
    failed = upload(b"broken").get_json()["id"]
    _set(settings, failed, status="failed", error_code="timeout", error_message="Too slow.")

    assert [d["id"] for d in auth_client.get("/v1/documents?status=failed").get_json()["documents"]] == [failed]
    assert [d["id"] for d in auth_client.get("/v1/documents?status=queued").get_json()["documents"]] == [queued]
    assert auth_client.get("/v1/documents?status=succeeded").get_json()["documents"] == []


@pytest.mark.parametrize(("limit", "expected"), [("0", 1), ("-5", 1), ("1000", 3)])
def test_an_out_of_range_limit_is_clamped(upload: Upload, auth_client: FlaskClient, limit: str, expected: int) -> None:
    for n in range(3):
        upload(f"file {n}".encode())
    assert len(auth_client.get(f"/v1/documents?limit={limit}").get_json()["documents"]) == expected


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("status=done", "invalid_status"),
        ("limit=ten", "invalid_limit"),
        ("limit=2.5", "invalid_limit"),
        ("cursor=not-a-cursor", "invalid_cursor"),
        ("cursor=WyJub3QgYSBkYXRlIiwgIngiXQ", "invalid_cursor"),  # ["not a date", "x"]
    ],
)
def test_bad_list_parameters_are_400(auth_client: FlaskClient, problem: Problem, query: str, code: str) -> None:
    problem(auth_client.get(f"/v1/documents?{query}"), 400, code)


# --- GET /v1/documents/<id>/content ----------------------------------------------


def test_a_queued_document_has_no_content_yet(upload: Upload, auth_client: FlaskClient) -> None:
    document_id = upload(b"not read yet").get_json()["id"]
    body = auth_client.get(f"/v1/documents/{document_id}/content").get_json()
    assert body == {"document_id": document_id, "pages": [], "chunks": []}


def test_content_lists_pages_in_order_and_their_chunks(
    upload: Upload, auth_client: FlaskClient, index_text: Index
) -> None:
    document_id = upload(b"two pages").get_json()["id"]
    index_text(document_id, ["Page one text.", "Page two text."])

    body = auth_client.get(f"/v1/documents/{document_id}/content").get_json()
    assert [(p["number"], p["text"]) for p in body["pages"]] == [(1, "Page one text."), (2, "Page two text.")]
    assert [(c["index"], c["page_start"], c["page_end"]) for c in body["chunks"]] == [(0, 1, 1), (1, 2, 2)]


# --- POST /v1/documents/<id>/reprocess --------------------------------------------


def test_reprocess_puts_a_failed_document_back_at_the_first_stage(
    upload: Upload, auth_client: FlaskClient, settings: Settings, index_text: Index, queued_messages: Listing
) -> None:
    document_id = upload(b"try again").get_json()["id"]
    index_text(document_id, ["Old text."])
    with session_scope(settings) as session:
        old_token = session.get(Document, document_id).dispatch_token  # type: ignore[union-attr]
    _set(settings, document_id, status="failed", stage="ai", error_code="timeout", error_message="Too slow.")

    response = auth_client.post(f"/v1/documents/{document_id}/reprocess")
    assert response.status_code == 202
    body = response.get_json()
    assert (body["status"], body["stage"], body["error"]) == ("queued", REGISTRY.first.name, None)
    assert all(run["status"] == "pending" and run["attempts"] == 0 for run in body["stages"].values())
    assert queued_messages() == [REGISTRY.first.queue] * 2, "the upload's message and the reprocess's"
    with session_scope(settings) as session:
        assert session.get(Document, document_id).dispatch_token != old_token  # type: ignore[union-attr]
        vectors = session.scalars(select(Chunk.embedding).where(Chunk.document_id == document_id)).all()
    assert all(v is None for v in vectors), "the previous run's vectors are gone before the new run"


def test_reprocess_of_an_unknown_document_is_404(auth_client: FlaskClient, problem: Problem) -> None:
    problem(auth_client.post("/v1/documents/nope/reprocess"), 404, "not_found")


# --- DELETE /v1/documents/<id> -----------------------------------------------------


def test_delete_removes_the_file_the_rows_and_the_vectors(
    upload: Upload, auth_client: FlaskClient, settings: Settings, services: Services, tenant: IssuedKey,
    stored_files: Listing, problem: Problem, index_text: Index,
) -> None:
    kept = upload(b"keep me").get_json()
    gone = upload(b"delete me").get_json()
    index_text(gone["id"], ["Some text."])

    response = auth_client.delete(f"/v1/documents/{gone['id']}")
    assert response.status_code == 204
    assert response.get_data() == b""
    problem(auth_client.get(f"/v1/documents/{gone['id']}"), 404, "not_found")
    problem(auth_client.delete(f"/v1/documents/{gone['id']}"), 404, "not_found")
    assert stored_files() == [services.blob_store.path_for(tenant.tenant_id, kept["sha256"])]
    with session_scope(settings) as session:
        for model in (Chunk, PageText):
            assert session.scalars(select(model).where(model.document_id == gone["id"])).all() == []
    assert services.vector_store.query(tenant.tenant_id, services.provider.embed_query("Some text."), 5) == []


def test_the_same_bytes_after_a_delete_are_a_new_document(upload: Upload, auth_client: FlaskClient) -> None:
    first = upload(b"again and again").get_json()
    auth_client.delete(f"/v1/documents/{first['id']}")
    again = upload(b"again and again")
    assert again.status_code == 202
    assert again.get_json()["id"] != first["id"]


# --- routing ---------------------------------------------------------------------


def test_an_unknown_path_and_a_wrong_method_are_problems_too(auth_client: FlaskClient, problem: Problem) -> None:
    problem(auth_client.get("/v1/nothing-here"), 404, "not_found")
    problem(auth_client.put("/v1/documents"), 405, "method_not_allowed")
