"""``POST /v1/documents``: intake, duplicates, several files, limits, passwords, callbacks.

Nothing consumes the embedded broker in these tests, so an accepted document stays
``queued`` with one message waiting on the first stage's queue.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from aegis.config import Settings
from aegis.persistence.db import session_scope
from aegis.persistence.models import Document
from aegis.pipeline.registry import REGISTRY, STAGES
from aegis.services.tenants import IssuedKey
from web.context import Services

Problem = Callable[[TestResponse, int, str], dict[str, Any]]
Upload = Callable[..., TestResponse]
Listing = Callable[[], list[Any]]


def _document_count(settings: Settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(Document)) or 0


def test_an_upload_is_stored_recorded_as_queued_and_sent_to_the_first_stage(
    upload: Upload, services: Services, tenant: IssuedKey, queued_messages: Listing, auth_client: FlaskClient
) -> None:
    data = b"The quick brown fox jumps over the lazy dog.\n"
    response = upload(data, "fox.txt")

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert body["stage"] == REGISTRY.first.name
    assert body["duplicate"] is False
    assert body["filename"] == "fox.txt"
    assert body["size"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert set(body["stages"]) == set(STAGES)
    assert all(run["status"] == "pending" for run in body["stages"].values())
    assert response.headers["Location"] == f"/v1/documents/{body['id']}"
    assert services.blob_store.path_for(tenant.tenant_id, body["sha256"]).read_bytes() == data
    assert queued_messages() == [REGISTRY.first.queue]
    assert auth_client.get(response.headers["Location"]).get_json()["status"] == "queued"


def test_the_same_bytes_again_answer_200_with_the_existing_document_marked_duplicate(
    upload: Upload, queued_messages: Listing, stored_files: Listing
) -> None:
    first = upload(b"same bytes", "one.txt").get_json()
    again = upload(b"same bytes", "renamed.txt")

    assert again.status_code == 200
    body = again.get_json()
    assert body["duplicate"] is True
    assert body["id"] == first["id"]
    assert body["filename"] == "one.txt", "the existing document comes back unchanged"
    assert queued_messages() == [REGISTRY.first.queue], "a duplicate is not processed again"
    assert len(stored_files()) == 1, "the duplicate's temporary file is gone"


def test_the_same_bytes_from_another_tenant_are_not_a_duplicate(
    upload: Upload, other_client: FlaskClient
) -> None:
    mine = upload(b"shared bytes").get_json()
    theirs = upload(b"shared bytes", client=other_client)
    assert theirs.status_code == 202
    assert theirs.get_json()["duplicate"] is False
    assert theirs.get_json()["id"] != mine["id"]


def test_several_files_in_one_request_become_several_documents(
    upload: Upload, queued_messages: Listing
) -> None:
    response = upload(files=[(b"first file", "a.txt"), (b"second file", "b.txt")])

    assert response.status_code == 202
    documents = response.get_json()["documents"]
    assert [d["filename"] for d in documents] == ["a.txt", "b.txt"]
    assert all(d["status"] == "queued" and d["duplicate"] is False for d in documents)
    assert response.headers["Location"] == f"/v1/documents/{documents[0]['id']}"
    assert queued_messages() == [REGISTRY.first.queue] * 2


def test_several_files_that_are_all_duplicates_answer_200(upload: Upload) -> None:
    upload(files=[(b"first file", "a.txt"), (b"second file", "b.txt")])
    response = upload(files=[(b"second file", "b.txt"), (b"first file", "a.txt")])
    assert response.status_code == 200
    assert [d["duplicate"] for d in response.get_json()["documents"]] == [True, True]


def test_a_mix_of_new_and_duplicate_files_answers_202_and_flags_each(upload: Upload) -> None:
    upload(b"old file", "old.txt")
    response = upload(files=[(b"old file", "old.txt"), (b"new file", "new.txt")])
    assert response.status_code == 202
    assert [d["duplicate"] for d in response.get_json()["documents"]] == [True, False]


def test_the_same_file_twice_in_one_request_is_one_document(upload: Upload, queued_messages: Listing) -> None:
    response = upload(files=[(b"twice", "a.txt"), (b"twice", "b.txt")])
    assert response.status_code == 202
    first, second = response.get_json()["documents"]
    assert first["id"] == second["id"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert queued_messages() == [REGISTRY.first.queue]


def test_a_path_in_the_filename_is_dropped(upload: Upload) -> None:
    body = upload(b"sneaky", "../../etc/passwd").get_json()
    assert "/" not in body["filename"] and ".." not in body["filename"]


def test_a_multipart_request_without_a_file_field_is_400_no_file(auth_client: FlaskClient, problem: Problem) -> None:
    response = auth_client.post(
        "/v1/documents", data={"document": (io.BytesIO(b"x"), "a.txt")}, content_type="multipart/form-data"
    )
    problem(response, 400, "no_file")


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("application/json", b'{"file": "aGVsbG8="}'), ("application/octet-stream", b"raw bytes"), ("text/plain", b"x")],
)
def test_a_body_that_is_not_multipart_is_415(
    auth_client: FlaskClient, problem: Problem, content_type: str, data: bytes
) -> None:
    problem(auth_client.post("/v1/documents", data=data, content_type=content_type), 415, "unsupported_media_type")


ClientFor = Callable[[Flask, str], FlaskClient]


@pytest.fixture()
def small_app(make_app: Callable[..., Flask]) -> Flask:
    """An app that takes uploads of at most 1000 bytes."""
    return make_app(AEGIS_MAX_UPLOAD_BYTES="1000")


def _post(client: FlaskClient, data: bytes) -> TestResponse:
    return client.post(
        "/v1/documents", data={"file": (io.BytesIO(data), "big.bin")}, content_type="multipart/form-data"
    )


def _store_files(app: Flask) -> list[Path]:
    with app.app_context():
        from web.context import settings

        root = settings().storage_dir
    return [p for p in root.rglob("*") if p.is_file()]


def test_a_request_larger_than_the_upload_limit_is_413_and_leaves_nothing(
    small_app: Flask, tenant_client: ClientFor, problem: Problem
) -> None:
    client = tenant_client(small_app, "small")
    body = problem(_post(client, b"x" * 200_000), 413, "file_too_large")
    # Issue 10, item 6: the documented limit (AEGIS_MAX_UPLOAD_BYTES), not the request limit.
    assert body["detail"] == "The upload is larger than the limit of 1000 bytes."
    assert _store_files(small_app) == []
    assert client.get("/v1/documents").get_json()["documents"] == []


def test_a_file_just_over_the_upload_limit_is_413_although_the_request_fits(
    small_app: Flask, tenant_client: ClientFor, problem: Problem
) -> None:
    """The request limit has room for multipart headers; the file itself must still fit the setting."""
    client = tenant_client(small_app, "small")
    body = problem(_post(client, b"x" * 1001), 413, "file_too_large")
    assert "limit of 1000 bytes" in body["detail"]
    assert _store_files(small_app) == []
    assert _post(client, b"x" * 1000).status_code == 202


@pytest.mark.parametrize("size", [1001, 1000 + 64 * 1024, 1000 + 64 * 1024 + 1, 5_000_000])
def test_every_upload_over_the_limit_quotes_the_same_exact_limit(
    small_app: Flask, tenant_client: ClientFor, problem: Problem, size: int
) -> None:
    """One limit on the file's bytes, whichever check (request or file) catches it."""
    client = tenant_client(small_app, "small")
    body = problem(_post(client, b"x" * size), 413, "file_too_large")
    assert "limit of 1000 bytes" in body["detail"]
    assert str(1000 + 64 * 1024) not in body["detail"]


def test_a_password_opens_an_encrypted_pdf_which_is_stored_decrypted(
    upload: Upload, encrypted_pdf: tuple[bytes, str], services: Services, tenant: IssuedKey
) -> None:
    data, password = encrypted_pdf
    assert PdfReader(io.BytesIO(data)).is_encrypted
    response = upload(data, "locked.pdf", password=password)

    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert body["metadata"] == {"decrypted_with_password": True}
    stored = services.blob_store.path_for(tenant.tenant_id, body["sha256"])
    assert not PdfReader(stored).is_encrypted
    assert body["sha256"] != hashlib.sha256(data).hexdigest(), "the record is of the decrypted bytes"


def test_a_wrong_password_is_422_and_keeps_no_row_and_no_file(
    upload: Upload, encrypted_pdf: tuple[bytes, str], problem: Problem, settings: Settings,
    stored_files: Listing, queued_messages: Listing,
) -> None:
    data, _ = encrypted_pdf
    body = problem(upload(data, "locked.pdf", password="not-it"), 422, "wrong_password")
    assert "not-it" not in body["detail"]
    assert _document_count(settings) == 0
    assert stored_files() == []
    assert queued_messages() == []


def test_a_wrong_password_fails_a_whole_multi_file_upload(
    upload: Upload, encrypted_pdf: tuple[bytes, str], problem: Problem, settings: Settings, stored_files: Listing
) -> None:
    data, password = encrypted_pdf
    unlocked = upload(data, "first.pdf", password=password).get_json()
    assert unlocked["status"] == "queued"
    before = stored_files()
    response = upload(files=[(b"%PDF-1.4 plain", "plain.txt"), (data, "locked.pdf")], password="not-it")
    assert response.status_code == 422
    assert _document_count(settings) == 1
    assert stored_files() == before


def test_a_password_with_a_file_that_is_not_a_pdf_leaves_the_file_as_it_is(
    upload: Upload, settings: Settings, services: Services, tenant: IssuedKey
) -> None:
    """Issue 10, item 3: the password is for encrypted PDFs; a .txt got 422 "The PDF is damaged"."""
    response = upload(b"just text", "note.txt", password="anything")
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body["sha256"] == hashlib.sha256(b"just text").hexdigest()
    assert body["metadata"] is None or "decrypted_with_password" not in body["metadata"]
    assert services.blob_store.path_for(tenant.tenant_id, body["sha256"]).read_bytes() == b"just text"
    assert _document_count(settings) == 1


def test_a_password_applies_to_the_encrypted_pdf_only_in_a_mixed_upload(
    upload: Upload, encrypted_pdf: tuple[bytes, str], services: Services, tenant: IssuedKey
) -> None:
    from pypdf import PdfWriter

    plain_pdf = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=100, height=100)
    writer.write(plain_pdf)
    data, password = encrypted_pdf
    response = upload(
        files=[(b"a note", "note.txt"), (plain_pdf.getvalue(), "open.pdf"), (data, "locked.pdf")], password=password
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    note, open_pdf, locked = response.get_json()["documents"]
    assert note["sha256"] == hashlib.sha256(b"a note").hexdigest()
    assert open_pdf["sha256"] == hashlib.sha256(plain_pdf.getvalue()).hexdigest(), "stored unchanged"
    assert locked["metadata"] == {"decrypted_with_password": True}
    assert not PdfReader(services.blob_store.path_for(tenant.tenant_id, locked["sha256"])).is_encrypted


def test_a_callback_url_needs_webhooks_to_be_configured(upload: Upload, problem: Problem) -> None:
    problem(upload(b"x", callback_url="https://example.com/hook"), 400, "webhooks_disabled")


@pytest.fixture()
def webhook_client(make_app: Callable[..., Flask], tenant_client: ClientFor) -> FlaskClient:
    return tenant_client(make_app(AEGIS_WEBHOOK_SECRET="s3cret"), "hooks")


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/hook", "invalid_callback_url"),
        ("https://user:pw@example.com/hook", "invalid_callback_url"),
        ("http://127.0.0.1:8080/hook", "private_callback_url"),
        ("http://10.1.2.3/hook", "private_callback_url"),
    ],
)
def test_a_callback_url_that_we_may_not_call_is_400(
    webhook_client: FlaskClient, problem: Problem, url: str, code: str
) -> None:
    response = webhook_client.post(
        "/v1/documents",
        data={"file": (io.BytesIO(b"x"), "a.txt"), "callback_url": url},
        content_type="multipart/form-data",
    )
    problem(response, 400, code)


@pytest.mark.xfail(strict=True, reason="known: the decrypted copy's bytes differ per upload, so its sha256 does too")
def test_the_same_encrypted_pdf_twice_with_its_password_is_a_duplicate(
    upload: Upload, encrypted_pdf: tuple[bytes, str]
) -> None:
    data, password = encrypted_pdf
    upload(data, "a.pdf", password=password)
    again = upload(data, "a.pdf", password=password)
    assert again.status_code == 200
    assert again.get_json()["duplicate"] is True
