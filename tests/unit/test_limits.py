"""Quotas and rate limits: the counters' rules, and the gateway's answers in embedded mode."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aegis.config import load_settings
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Tenant
from aegis.services import limits
from aegis.services.tenants import create_tenant


def _tenant(**values: float) -> Tenant:
    return Tenant(id=str(uuid.uuid4()), name="t", **values)


def test_a_bucket_allows_its_burst_then_refuses_with_the_seconds_to_wait() -> None:
    store = limits.MemoryCounters()
    tenant = _tenant(requests_per_second=0.5, rate_burst=3)
    decisions = [limits.take_request(store, tenant) for _ in range(4)]
    assert [d.allowed for d in decisions if d] == [True, True, True, False]
    assert [d.remaining for d in decisions if d] == [2, 1, 0, 0]
    last = decisions[-1]
    assert last is not None and last.limit == 3 and last.retry_after == 2  # one token at 0.5/s


def test_a_tenant_without_a_rate_is_not_counted() -> None:
    assert limits.take_request(limits.MemoryCounters(), _tenant()) is None


def test_daily_quotas_are_charged_all_or_nothing_and_name_the_quota_passed() -> None:
    store = limits.MemoryCounters()
    tenant = _tenant(max_documents_per_day=3, max_bytes_per_day=100)
    now = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    limits.charge_daily(store, tenant, {"max_documents_per_day": 2, "max_bytes_per_day": 60}, now)
    with pytest.raises(limits.QuotaExceeded) as refused:
        limits.charge_daily(store, tenant, {"max_documents_per_day": 1, "max_bytes_per_day": 41}, now)
    assert (refused.value.quota, refused.value.limit, refused.value.used) == ("max_bytes_per_day", 100, 60)
    assert refused.value.retry_after == 3600  # the next UTC midnight
    # The refused charge took nothing: one more small document still fits.
    charge = limits.charge_daily(store, tenant, {"max_documents_per_day": 1, "max_bytes_per_day": 40}, now)
    charge.refund(store)
    limits.charge_daily(store, tenant, {"max_documents_per_day": 1, "max_bytes_per_day": 40}, now)
    # A new day starts from zero.
    tomorrow = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    limits.charge_daily(store, tenant, {"max_documents_per_day": 3, "max_bytes_per_day": 100}, tomorrow)


def test_set_limits_clears_with_zero_and_refuses_negative_values() -> None:
    from aegis.services.tenants import TenantError

    tenant = _tenant(max_stored_bytes=10)
    out = limits.set_limits(tenant, {"max_stored_bytes": 0, "requests_per_second": 2.5})
    assert out["max_stored_bytes"] is None and out["requests_per_second"] == 2.5
    with pytest.raises(TenantError):
        limits.set_limits(tenant, {"max_in_flight": -1})


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Flask]:
    from web import create_app

    settings = load_settings({"AEGIS_DATA_DIR": str(tmp_path)})
    from aegis.persistence import migrate

    migrate.upgrade(settings)
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    dispose_engines()


def _client(app: Flask, **values: float) -> FlaskClient:
    from web.context import EXTENSION

    settings = app.extensions[EXTENSION].settings
    with session_scope(settings) as session:
        issued = create_tenant(session, f"t-{uuid.uuid4().hex[:8]}")
        tenant = session.get(Tenant, issued.tenant_id)
        assert tenant is not None
        limits.set_limits(tenant, values)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {issued.api_key}"
    return client


def _upload(client: FlaskClient, data: bytes, name: str) -> Any:
    return client.post("/v1/documents", data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_an_upload_past_the_daily_document_quota_gets_429_naming_it_and_a_duplicate_is_free(app: Flask) -> None:
    client = _client(app, max_documents_per_day=1)
    first = _upload(client, b"one\n", "a.txt")
    assert first.status_code == 202
    again = _upload(client, b"one\n", "a.txt")
    assert again.status_code == 200 and again.json["duplicate"] is True
    over = _upload(client, b"two\n", "b.txt")
    assert over.status_code == 429 and over.mimetype == "application/problem+json"
    assert over.json["code"] == "quota_exceeded" and over.json["quota"] == "max_documents_per_day"
    assert 0 < int(over.headers["Retry-After"]) <= 86400


def test_stored_bytes_are_read_from_the_database_so_a_deletion_frees_room(app: Flask) -> None:
    client = _client(app, max_stored_bytes=10)
    first = _upload(client, b"123456\n", "a.txt")
    assert first.status_code == 202
    over = _upload(client, b"abcdef\n", "b.txt")
    assert over.status_code == 429 and over.json["quota"] == "max_stored_bytes"
    assert "Retry-After" not in over.headers  # waiting frees nothing
    assert client.delete(f"/v1/documents/{first.json['id']}").status_code == 204
    ok = _upload(client, b"abcdef\n", "b.txt")
    assert ok.status_code == 202


def test_requests_past_the_rate_get_429_rate_limited_and_every_answer_carries_the_headers(app: Flask) -> None:
    client = _client(app, requests_per_second=0.01, rate_burst=2)
    answers = [client.get("/v1/documents") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["1", "0", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == "2" for a in answers)
    assert answers[2].json["code"] == "rate_limited" and int(answers[2].headers["Retry-After"]) >= 1
    # Another tenant has its own bucket, and one without a rate gets no headers.
    other = _client(app).get("/v1/documents")
    assert other.status_code == 200 and "X-RateLimit-Limit" not in other.headers
