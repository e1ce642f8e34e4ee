"""Concurrent uploads of one tenant against the real gateway and PostgreSQL.

An upload inserts its documents with ``ON CONFLICT DO NOTHING`` (the unique index
on tenant and sha256 settles duplicates, no lookup first and no tenant lock around
the inserts), then takes admission's tenant lock (``FOR NO KEY UPDATE``, which the
inserts' key-share locks do not conflict with) and admits. These tests hold every
insert for a moment so that the uploads really overlap.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from tests.harness import ApiClient, Stack, stack_of_its_own

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def roomy_stack() -> Iterator[Stack]:
    """Room in flight for every upload, whatever else runs: a refusal here can only be a lock's."""
    with stack_of_its_own(AEGIS_PIPELINE_SLOTS="64") as stack:
        yield stack


@contextmanager
def slow_document_inserts(stack: Stack, seconds: float = 0.3) -> Iterator[None]:
    """Hold every upload between its insert and its admission long enough for the others to insert too."""
    url = stack.env["AEGIS_DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION aegis_test_slow_insert() RETURNS trigger AS $$ "
            f"BEGIN PERFORM pg_sleep({seconds}); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER aegis_test_slow_insert AFTER INSERT ON documents "
            "FOR EACH ROW EXECUTE FUNCTION aegis_test_slow_insert()"
        )
    try:
        yield
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TRIGGER IF EXISTS aegis_test_slow_insert ON documents")
            conn.execute("DROP FUNCTION IF EXISTS aegis_test_slow_insert()")


def test_concurrent_uploads_of_one_tenant_are_all_admitted_by_their_own_upload(roomy_stack: Stack) -> None:
    stack = roomy_stack
    api = ApiClient(stack.url, stack.create_tenant(f"concurrent-{uuid.uuid4().hex[:8]}"))
    log = stack.logs["gateway"]
    start = log.stat().st_size
    bodies = [f"{uuid.uuid4()} concurrent upload {n}\n".encode() for n in range(6)]
    with slow_document_inserts(stack), ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(pool.map(lambda b: api.upload_bytes("same-time.txt", b), bodies))
    assert [a.status_code for a in answers] == [202] * len(bodies), [a.text[:200] for a in answers]
    ids = [a.json()["id"] for a in answers]
    with psycopg.connect(stack.env["AEGIS_DATABASE_URL"]) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM documents WHERE id = ANY(%s) AND admitted_at IS NULL", (ids,)
        ).fetchone()
    with log.open("rb") as f:
        f.seek(start)
        written = f.read().decode(errors="replace")
    assert "admission deferred" not in written and "deadlock" not in written, written[-2000:]
    assert waiting == (0,)


def _gateway_log_since(stack: Stack, start: int) -> str:
    with stack.logs["gateway"].open("rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace")


def test_the_same_bytes_uploaded_concurrently_make_one_document_and_the_rest_are_duplicates(
    roomy_stack: Stack,
) -> None:
    """No lookup-then-insert race: the unique index decides, the losers answer 200 with the winner's id."""
    stack = roomy_stack
    api = ApiClient(stack.url, stack.create_tenant(f"same-bytes-{uuid.uuid4().hex[:8]}"))
    start = stack.logs["gateway"].stat().st_size
    body = f"{uuid.uuid4()} the same bytes six times\n".encode()
    with slow_document_inserts(stack), ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda n: api.upload_bytes(f"copy-{n}.txt", body), range(6)))
    assert sorted(a.status_code for a in answers) == [200] * 5 + [202], [a.text[:200] for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert sum(a.json()["duplicate"] for a in answers) == 5
    assert "Traceback" not in _gateway_log_since(stack, start)


def test_two_uploads_of_the_same_files_in_opposite_orders_do_not_deadlock(roomy_stack: Stack) -> None:
    """Each upload inserts its files in sha256 order, so the two wait for each other in one direction only."""
    stack = roomy_stack
    api = ApiClient(stack.url, stack.create_tenant(f"crossed-{uuid.uuid4().hex[:8]}"))
    start = stack.logs["gateway"].stat().st_size
    first, second = (f"{uuid.uuid4()} crossed file {n}\n".encode() for n in range(2))

    def send(parts: list[tuple[str, bytes]]) -> Any:
        files = [("file", (name, data)) for name, data in parts]
        return api.session.post(stack.url + "/v1/documents", files=files, timeout=60)

    orders = [[("a.txt", first), ("b.txt", second)], [("b.txt", second), ("a.txt", first)]]
    with slow_document_inserts(stack), ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(send, orders))
    assert sorted(a.status_code for a in answers) == [200, 202], [a.text[:300] for a in answers]
    ids = [{d["filename"]: d["id"] for d in a.json()["documents"]} for a in answers]
    assert ids[0] == ids[1]
    assert "deadlock" not in _gateway_log_since(stack, start)


def test_an_upload_writes_its_document_stage_rows_and_audit_event_together_and_a_duplicate_only_its_event(
    roomy_stack: Stack,
) -> None:
    """One statement on PostgreSQL inserts all three; a duplicate inserts no stage rows and no `accepted` event."""
    stack = roomy_stack
    api = ApiClient(stack.url, stack.create_tenant(f"one-statement-{uuid.uuid4().hex[:8]}"))
    body = f"{uuid.uuid4()} one statement\n".encode()
    first = api.upload_bytes("one.txt", body)
    again = api.upload_bytes("again.txt", body)
    assert (first.status_code, again.status_code) == (202, 200)
    document = first.json()
    assert again.json()["id"] == document["id"] and again.json()["duplicate"] is True
    assert list(document["stages"]) == ["validate", "metadata", "content", "ocr", "ai"]
    assert document["filename"] == "one.txt" and document["size"] == len(body) and document["duplicate"] is False
    with psycopg.connect(stack.env["AEGIS_DATABASE_URL"]) as conn:
        runs = conn.execute("SELECT count(*) FROM stage_runs WHERE document_id = %s", (document["id"],)).fetchone()
        events = conn.execute(
            "SELECT action, outcome, key_id IS NOT NULL, request_id IS NOT NULL, client FROM audit_events"
            " WHERE document_id = %s ORDER BY id", (document["id"],),
        ).fetchall()
    assert runs == (5,)
    assert events == [("upload", "accepted", True, True, "127.0.0.1"), ("upload", "duplicate", True, True, "127.0.0.1")]


def test_uploads_after_postgresql_dropped_every_connection_are_all_accepted(roomy_stack: Stack) -> None:
    """A database restart or failover between requests costs the client nothing: the
    gateway's pool pre-pings each checkout and replaces a connection PostgreSQL dropped."""
    stack = roomy_stack
    api = ApiClient(stack.url, stack.create_tenant(f"stale-{uuid.uuid4().hex[:8]}"))
    # Several uploads at once: every gateway process has idle pooled connections afterwards.
    with ThreadPoolExecutor(4) as pool:
        warm = list(pool.map(lambda n: api.upload_bytes(f"warm-{n}.txt", f"{uuid.uuid4()} warm\n".encode()), range(8)))
    assert {a.status_code for a in warm} == {202}
    with psycopg.connect(stack.env["AEGIS_DATABASE_URL"], autocommit=True) as conn:
        # This test's own database only, never the server.
        ended = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    start = stack.logs["gateway"].stat().st_size
    answers = [api.upload_bytes(f"after-{n}.txt", f"{uuid.uuid4()} after\n".encode()) for n in range(6)]
    assert [a.status_code for a in answers] == [202] * 6, [a.text[:200] for a in answers]
    assert "Traceback" not in _gateway_log_since(stack, start)
