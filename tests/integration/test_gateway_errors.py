"""Requests that used to end in 500 (or in gunicorn's HTML) against the real gateway.

Each answers problem+json with a stable code instead: the reprocess/delete race
(a PostgreSQL deadlock before the document row was locked first), NUL bytes in
ids (PostgreSQL refuses them in text), and request lines and headers over
gunicorn's limits.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from tests.harness import CORPUS, ApiClient, Stack, wait_for

pytestmark = pytest.mark.integration

PDFS = sorted((CORPUS / "pdf").glob("*.pdf"))


def _problem(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["Content-Type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["code"] == code and body["status"] == status


@contextmanager
def slow_stage_run_deletes(stack: Stack, seconds: float = 0.3) -> Iterator[None]:
    """Widen the race window the deadlock needs: each stage row takes ``seconds`` to delete.

    A delete that removed the stage rows before locking the document held those
    rows while a worker starting the reprocessed chain locked the document and
    waited for one of them: PostgreSQL then aborted one side (the issue saw 4 in
    8). The trigger makes that window wide enough to hit on every try.
    """
    url = stack.env["AEGIS_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION aegis_test_slow_delete() RETURNS trigger AS $$ "
            f"BEGIN PERFORM pg_sleep({seconds}); RETURN OLD; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER aegis_test_slow_delete BEFORE DELETE ON stage_runs "
            "FOR EACH ROW EXECUTE FUNCTION aegis_test_slow_delete()"
        )
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS aegis_test_slow_delete ON stage_runs")
            conn.execute("DROP FUNCTION IF EXISTS aegis_test_slow_delete()")


def test_reprocess_then_delete_never_deadlocks_and_the_delete_wins(api: ApiClient, stack: Stack) -> None:
    """8 races: the delete answers 204 and the document is gone, whatever stage was running."""
    uploads = [api.upload(path) for path in PDFS[:8]]
    ids = [r.json()["id"] for r in uploads]
    assert all(r.status_code == 202 for r in uploads), [r.text for r in uploads]

    def race(document_id: str) -> tuple[int, int, str]:
        reprocess = api.session.post(f"{api.base}/v1/documents/{document_id}/reprocess", timeout=60)
        delete = api.session.delete(f"{api.base}/v1/documents/{document_id}", timeout=60)
        return reprocess.status_code, delete.status_code, delete.text[:200]

    with slow_stage_run_deletes(stack), ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(race, ids))
    assert all(reprocess in (202, 404) and delete == 204 for reprocess, delete, _ in outcomes), outcomes
    for document_id in ids:
        assert api.get(f"/v1/documents/{document_id}").status_code == 404
    assert api.get("/v1/documents").json()["documents"] == []


@pytest.mark.parametrize("path", [
    "/v1/documents/%00",
    "/v1/documents/a%00b/content",
    "/v1/documents/%00/events",
    "/v1/documents/" + "a" * 300,
    "/v1/documents/1b4e28ba-2fa1-11d2-883f-0016d3cca42%00",
])
def test_a_nul_byte_or_junk_in_a_document_id_is_a_404(api: ApiClient, path: str) -> None:
    _problem(api.get(path), 404, "not_found")
    _problem(api.session.post(api.base + path.removesuffix("/content").removesuffix("/events") + "/reprocess",
                              timeout=30), 404, "not_found")
    _problem(api.session.delete(api.base + path.removesuffix("/content").removesuffix("/events"), timeout=30),
             404, "not_found")


def test_a_nul_byte_in_a_search_filter_is_a_400(api: ApiClient) -> None:
    _problem(api.get("/v1/search?q=x&document_id=%00"), 400, "invalid_document_id")
    _problem(api.get("/v1/documents?status=%00"), 400, "invalid_status")
    _problem(api.get("/v1/documents?cursor=%00"), 400, "invalid_cursor")


def _raw(url: str, request: bytes) -> bytes:
    """Send raw bytes (requests would refuse some of these) and read the whole answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_a_request_line_over_4_kb_is_a_problem_414(stack: Stack) -> None:
    _problem(requests.get(stack.url + "/v1/documents?x=" + "a" * 5000, timeout=10), 414, "uri_too_long")


def test_huge_or_too_many_headers_are_a_problem_431(stack: Stack) -> None:
    _problem(requests.get(stack.url + "/health", headers={"X-Big": "a" * 9000}, timeout=10), 431,
             "headers_too_large")
    many = {f"X-H{i}": "1" for i in range(150)}
    _problem(requests.get(stack.url + "/health", headers=many, timeout=10), 431, "headers_too_large")


def test_a_malformed_request_line_is_a_problem_400(stack: Stack) -> None:
    answer = _raw(stack.url, b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/problem+json" in head, answer[:300]
    assert b'"code": "bad_request"' in body
    wait_for(lambda: requests.get(stack.url + "/health", timeout=5).ok, 10, message="gateway still up")
