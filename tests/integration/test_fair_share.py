"""Fair share on the real stack: one tenant's burst does not starve another's document."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from aegis.config import load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Document, Tenant, as_utc
from aegis.pipeline import admission
from aegis.services.documents import intake
from tests.harness import ApiClient, Stack, postgres_database, stack_of_its_own

CAP = 2
BURST = 8
SLOTS = 2


@pytest.fixture(scope="module")
def small_stack() -> Iterator[Stack]:
    """A stack whose workers are said to run SLOTS documents at once: the installation's bound."""
    with stack_of_its_own(AEGIS_RECONCILE_INTERVAL="5", AEGIS_PIPELINE_SLOTS=str(SLOTS)) as stack:
        yield stack


def _tenant(stack: Stack, cap: int | None = None) -> tuple[str, ApiClient]:
    name = f"fair-{uuid.uuid4().hex[:10]}"
    key = stack.create_tenant(name)
    with session_scope(stack.settings()) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.name == name)).one()
        tenant.max_in_flight = cap
        tenant_id = tenant.id
    return tenant_id, ApiClient(stack.url, key)


def _ends(docs: list[dict]) -> list[datetime]:
    return [max(datetime.fromisoformat(s["finished_at"]) for s in d["stages"].values() if s["finished_at"])
            for d in docs]


def _assert_b_near_the_front(
    stack: Stack, a: ApiClient, a_id: str, a_docs: list[str], b: ApiClient, b_doc: str, bound: int,
) -> None:
    """B waits behind at most ``bound`` of A's documents; A never has more than ``bound`` in flight."""
    b_end = _ends([b.wait(b_doc, timeout=120)])[0]
    a_final = [a.wait(d, timeout=240) for d in a_docs]
    assert all(d["status"] == "succeeded" for d in a_final), [d["error"] for d in a_final]
    a_ends = _ends(a_final)
    with session_scope(stack.settings()) as session:
        b_admitted = as_utc(session.get(Document, b_doc).admitted_at)
    # A's documents in B's way: still unfinished when B entered the queues, done before B.
    # With fair share these are the at most ``bound`` admitted before B (FIFO, one worker
    # per stage); without it, every A document not yet done when B arrived. (Counting every
    # A document that ended before B also counts those done while the burst was uploading.)
    in_the_way = sum(1 for end in a_ends if b_admitted < end < b_end)
    assert in_the_way <= bound + 1, (in_the_way, len(a_docs))
    # Each admission of A's follows an end: never more than ``bound`` in flight.
    with session_scope(stack.settings()) as session:
        rows = session.execute(select(Document.id, Document.admitted_at).where(Document.tenant_id == a_id)).all()
    admitted = {doc_id: as_utc(at) for doc_id, at in rows}
    ended = dict(zip(a_docs, a_ends, strict=True))
    for doc_id, at in admitted.items():
        overlapping = [d for d in a_docs if admitted[d] <= at < ended[d]]
        assert len(overlapping) <= bound, (doc_id, len(overlapping))


def test_a_burst_of_one_tenant_leaves_another_tenants_document_near_the_front(stack: Stack) -> None:
    a_id, a = _tenant(stack, cap=CAP)
    _b_id, b = _tenant(stack)
    run = uuid.uuid4().hex
    a_docs = [a.upload_bytes(f"a{i}.txt", f"burst {run} number {i}\n".encode()).json()["id"] for i in range(BURST)]
    b_doc = b.upload_bytes("b.txt", f"the other tenant {run}\n".encode()).json()["id"]
    # Uploads beyond the cap wait in the database, not in the queues.
    with session_scope(stack.settings()) as session:
        assert admission.in_flight(session, a_id) <= CAP
    _assert_b_near_the_front(stack, a, a_id, a_docs, b, b_doc, CAP)


def test_the_installations_bound_alone_keeps_a_burst_from_filling_the_queues(small_stack: Stack) -> None:
    """No tenant cap set: A's default ceiling is the installation's slots, and B waits
    behind at most those few of A's documents."""
    a_id, a = _tenant(small_stack)
    _b_id, b = _tenant(small_stack)
    run = uuid.uuid4().hex
    a_docs = [a.upload_bytes(f"a{i}.txt", f"slots {run} number {i}\n".encode()).json()["id"] for i in range(BURST)]
    b_doc = b.upload_bytes("b.txt", f"the newcomer {run}\n".encode()).json()["id"]
    _assert_b_near_the_front(small_stack, a, a_id, a_docs, b, b_doc, SLOTS)


def test_concurrent_admitters_never_exceed_the_cap_nor_admit_a_document_twice() -> None:
    with postgres_database() as url:
        settings = load_settings({"AEGIS_DATABASE_URL": url, "AEGIS_TENANT_MAX_IN_FLIGHT": "3"})
        migrate.upgrade(settings)
        try:
            with session_scope(settings) as session:
                tenant = Tenant(name="burst")
                session.add(tenant)
                session.flush()
                tenant_id = tenant.id
                for i in range(20):
                    intake(session, tenant_id, f"{i}.txt", uuid.uuid4().hex * 2, 1, admitted=False)
            start = threading.Barrier(4)
            picked: list[str] = []
            lock = threading.Lock()

            def admitter() -> None:
                start.wait()
                with session_scope(settings) as session:
                    got = admission.admit(session, settings, [tenant_id])
                with lock:
                    picked.extend(d.document_id for d in got)

            threads = [threading.Thread(target=admitter) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(picked) == 3 and len(set(picked)) == 3
            with session_scope(settings) as session:
                assert admission.in_flight(session, tenant_id) == 3
        finally:
            dispose_engines()
