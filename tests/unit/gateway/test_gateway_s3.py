"""The gateway on an S3 bucket (a real moto server): uploads, duplicates, passwords, delete, outages."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from pypdf import PdfReader

from aegis.persistence.s3 import PART_SIZE
from aegis.services.tenants import IssuedKey
from tests.s3server import S3Server
from tests.unit.gateway.conftest import AppFactory, authorised, new_tenant
from web import context

Problem = Callable[..., dict[str, Any]]

pytestmark = pytest.mark.usefixtures("aws_env")  # tests/conftest.py


@pytest.fixture()
def bucket(s3: S3Server) -> Iterator[str]:
    with s3.bucket() as name:
        yield name


@pytest.fixture()
def s3_app(make_app: AppFactory, s3: S3Server, bucket: str) -> Flask:
    return make_app(**s3.env(bucket, "docs"))


def _tenant(app: Flask) -> IssuedKey:
    with app.app_context():
        return new_tenant(context.settings(), "acme")


def _post(app: Flask, key: str, files: list[tuple[bytes, str]], **form: str) -> Any:
    body: dict[str, Any] = dict(form)
    body["file"] = [(io.BytesIO(content), name) for content, name in files]
    return authorised(app, key).post("/v1/documents", data=body, content_type="multipart/form-data")


def test_an_upload_lands_in_the_bucket_under_the_tenant_once_and_delete_removes_it(
    s3_app: Flask, s3: S3Server, bucket: str
) -> None:
    tenant = _tenant(s3_app)
    data = os.urandom(PART_SIZE + 1000)  # a multipart upload, not a single put
    sha = hashlib.sha256(data).hexdigest()
    first = _post(s3_app, tenant.api_key, [(data, "big.bin")])
    assert first.status_code == 202, first.get_data(as_text=True)
    assert first.get_json()["sha256"] == sha
    again = _post(s3_app, tenant.api_key, [(data, "again.bin")])
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert s3.keys(bucket) == [f"docs/{tenant.tenant_id}/{sha[:2]}/{sha}"]
    assert s3.incomplete_uploads(bucket) == []
    with s3_app.app_context():
        storage_dir = context.settings().storage_dir
    assert not storage_dir.exists() or not [p for p in storage_dir.rglob("*") if p.is_file()]
    removed = authorised(s3_app, tenant.api_key).delete(f"/v1/documents/{first.get_json()['id']}")
    assert removed.status_code == 204
    assert s3.keys(bucket) == []


def test_a_password_protected_pdf_is_stored_decrypted_in_the_bucket(
    s3_app: Flask, s3: S3Server, bucket: str, encrypted_pdf: tuple[bytes, str]
) -> None:
    tenant = _tenant(s3_app)
    data, password = encrypted_pdf
    response = _post(s3_app, tenant.api_key, [(b"a note", "note.txt"), (data, "locked.pdf")], password=password)
    assert response.status_code == 202, response.get_data(as_text=True)
    locked = response.get_json()["documents"][1]
    sha = locked["sha256"]
    body = s3.client().get_object(Bucket=bucket, Key=f"docs/{tenant.tenant_id}/{sha[:2]}/{sha}")
    assert not PdfReader(io.BytesIO(body["Body"].read())).is_encrypted
    assert len(s3.keys(bucket)) == 2  # the note and the decrypted PDF; nothing incoming is left
    assert s3.incomplete_uploads(bucket) == []


def test_an_unreachable_bucket_answers_503_with_retry_after_and_keeps_no_row(
    make_app: AppFactory, problem: Problem
) -> None:
    down = S3Server()  # nobody listens on its port
    app = make_app(**down.env("aegis-down"))
    tenant = _tenant(app)
    response = _post(app, tenant.api_key, [(b"hello", "note.txt")])
    problem(response, 503, "storage_unavailable")
    assert int(response.headers["Retry-After"]) > 0
    listed = authorised(app, tenant.api_key).get("/v1/documents").get_json()
    assert listed["documents"] == []
    ready = app.test_client().get("/ready")
    assert ready.status_code == 503
    assert ready.get_json()["checks"]["storage"].startswith("error")


def test_the_gateway_refuses_to_start_on_a_bucket_that_does_not_exist(
    make_app: AppFactory, s3: S3Server, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        make_app(**s3.env("no-such-bucket-anywhere"))
    assert stopped.value.code == 4  # gunicorn's "App failed to load": no restart loop
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("aegis: error:")]
    assert lines == ["aegis: error: AEGIS_STORAGE_URL: the bucket 'no-such-bucket-anywhere' does not exist"]
