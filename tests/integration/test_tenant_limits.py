"""Quotas and rate limits on the real stack: two gateway processes share the counts in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from aegis.persistence.db import session_scope
from aegis.persistence.models import Tenant
from aegis.services import limits
from tests.harness import ApiClient, Stack


@pytest.fixture(scope="module")
def second_gateway(stack: Stack) -> Iterator[str]:
    """Another gateway process on the same database and Redis, as a second replica would be."""
    url = stack.start_gateway(name="gateway-replica")
    try:
        yield url
    finally:
        stack.stop("gateway-replica")


def _tenant(stack: Stack, **values: float) -> str:
    name = f"limits-{uuid.uuid4().hex[:10]}"
    key = stack.create_tenant(name)
    with session_scope(stack.settings()) as session:
        limits.set_limits(session.scalars(select(Tenant).where(Tenant.name == name)).one(), values)
    return key


def test_the_request_rate_is_shared_by_two_gateway_processes(stack: Stack, second_gateway: str) -> None:
    key = _tenant(stack, requests_per_second=0.01, rate_burst=4)
    replicas = [ApiClient(stack.url, key), ApiClient(second_gateway, key)]
    answers = [replicas[i % 2].get("/v1/documents") for i in range(6)]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["3", "2", "1", "0", "0", "0"]
    assert {a.headers["X-RateLimit-Limit"] for a in answers} == {"4"}
    refused = answers[4]
    assert refused.json()["code"] == "rate_limited" and int(refused.headers["Retry-After"]) >= 60


def test_the_daily_document_quota_is_shared_by_two_gateway_processes(stack: Stack, second_gateway: str) -> None:
    key = _tenant(stack, max_documents_per_day=3)
    a, b = ApiClient(stack.url, key), ApiClient(second_gateway, key)
    run = uuid.uuid4().hex
    assert a.upload_bytes("1.txt", f"{run} one".encode()).status_code == 202
    assert b.upload_bytes("2.txt", f"{run} two".encode()).status_code == 202
    assert a.upload_bytes("3.txt", f"{run} three".encode()).status_code == 202
    over = b.upload_bytes("4.txt", f"{run} four".encode())
    assert over.status_code == 429
    body = over.json()
    assert (body["code"], body["quota"]) == ("quota_exceeded", "max_documents_per_day")
    assert (body["limit"], body["used"]) == (3, 3)
    assert 0 < int(over.headers["Retry-After"]) <= 86400


def test_a_document_past_the_daily_page_quota_is_rejected_with_quota_exceeded(stack: Stack) -> None:
    api = ApiClient(stack.url, _tenant(stack, max_pages_per_day=4))
    run = uuid.uuid4().hex
    first = api.wait(api.upload_bytes("three.txt", f"{run}\fpage two\fpage three\n".encode()).json()["id"])
    assert first["status"] == "succeeded" and first["metadata"]["pages"] == 3
    second = api.wait(api.upload_bytes("two.txt", f"{run}\fpage two, again\n".encode()).json()["id"])
    assert second["status"] == "rejected"
    assert second["error"]["code"] == "quota_exceeded" and "max_pages_per_day" in second["error"]["message"]
    assert second["stages"]["metadata"]["status"] == "failed"
