"""Fair-share admission's decisions, on a real (SQLite) database: no services needed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from aegis.config import Settings, load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Document, Tenant, utcnow
from aegis.pipeline import admission, priority, reconciler
from aegis.pipeline.chain import reset_for_reprocess
from aegis.services.documents import intake


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_TENANT_MAX_IN_FLIGHT": "2",
                       "AEGIS_TIME_LIMIT_VALIDATE": "10"})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def _tenant(session: Session, name: str, cap: int | None = None) -> str:
    tenant = Tenant(name=name, max_in_flight=cap)
    session.add(tenant)
    session.flush()
    return tenant.id


def _waiting(session: Session, tenant_id: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        doc = intake(session, tenant_id, f"{i}.txt", uuid.uuid4().hex * 2, 1, admitted=False).document
        # Distinct, increasing upload times: admission takes the oldest first.
        doc.created_at = utcnow() - timedelta(seconds=100 - i)
        ids.append(doc.id)
    return ids


def _end(session: Session, document_id: str) -> None:
    doc = session.get(Document, document_id)
    assert doc is not None
    doc.status, doc.stage = "succeeded", None


def test_a_tenant_gets_its_cap_in_flight_oldest_first_and_the_rest_wait(settings: Settings) -> None:
    with session_scope(settings) as session:
        a = _tenant(session, "a")
        ids = _waiting(session, a, 5)
    with session_scope(settings) as session:
        first = admission.admit(session, settings, [a])
    assert [d.document_id for d in first] == ids[:2]
    assert all(d.stage == "validate" for d in first)
    with session_scope(settings) as session:
        assert admission.admit(session, settings, [a]) == []  # full: nothing more until one ends
        assert admission.in_flight(session, a) == 2
        assert session.get(Document, ids[2]).admitted_at is None  # type: ignore[union-attr]
        _end(session, ids[0])
    with session_scope(settings) as session:
        assert [d.document_id for d in admission.admit(session, settings, [a])] == [ids[2]]


def test_a_pass_interleaves_tenants_so_a_short_budget_serves_each_tenant_first(settings: Settings) -> None:
    with session_scope(settings) as session:
        a = _tenant(session, "a", cap=10)
        b = _tenant(session, "b", cap=10)
        a_ids = _waiting(session, a, 6)
        b_ids = _waiting(session, b, 1)
    with session_scope(settings) as session:
        picked = admission.admit(session, settings, budget=3)
    assert {d.document_id for d in picked} == {a_ids[0], a_ids[1], b_ids[0]}
    assert [d.tenant_id for d in picked][:2] != [a, a]  # b is not behind a's second document


def test_a_tenants_own_cap_overrides_the_installations(settings: Settings) -> None:
    with session_scope(settings) as session:
        big = _tenant(session, "big", cap=4)
        _waiting(session, big, 6)
    with session_scope(settings) as session:
        assert len(admission.admit(session, settings)) == 4


def test_an_admission_rolled_back_by_a_crash_leaves_the_documents_waiting(settings: Settings) -> None:
    with session_scope(settings) as session:
        a = _tenant(session, "a")
        ids = _waiting(session, a, 2)
    with pytest.raises(RuntimeError), session_scope(settings) as session:
        assert admission.admit(session, settings, [a])
        raise RuntimeError("the admitting process died before committing")
    with session_scope(settings) as session:
        assert [d.document_id for d in admission.admit(session, settings, [a])] == ids


def test_the_reconciler_resends_an_admitted_document_never_a_waiting_one(settings: Settings) -> None:
    with session_scope(settings) as session:
        a = _tenant(session, "a")
        ids = _waiting(session, a, 3)
    # Admitted and committed, then the process died before sending the chains.
    with session_scope(settings) as session:
        admission.admit(session, settings, [a])
        for doc in session.query(Document):
            doc.progress_at = utcnow() - timedelta(seconds=60)
    with session_scope(settings) as session:
        actions = reconciler.reconcile(session, settings)
    assert sorted(a.document_id for a in actions) == sorted(ids[:2])


def test_reprocess_puts_a_document_back_in_line(settings: Settings) -> None:
    with session_scope(settings) as session:
        a = _tenant(session, "a")
        ids = _waiting(session, a, 3)
    with session_scope(settings) as session:
        admission.admit(session, settings, [a])
    with session_scope(settings) as session:
        doc = session.get(Document, ids[0])
        assert doc is not None
        _end(session, ids[0])
        session.flush()
        reset_for_reprocess(session, doc)
        assert doc.admitted_at is None
    with session_scope(settings) as session:
        # One slot is free; the older waiting document (ids[0] was uploaded first) goes first.
        assert [d.document_id for d in admission.admit(session, settings, [a])] == [ids[0]]


def test_the_cap_setting_must_be_positive(tmp_path: Path) -> None:
    from aegis.config import SettingsError

    with pytest.raises(SettingsError, match="AEGIS_TENANT_MAX_IN_FLIGHT"):
        load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_TENANT_MAX_IN_FLIGHT": "0"})
    assert replace(load_settings({"AEGIS_DATA_DIR": str(tmp_path)}), tenant_max_in_flight=1).tenant_max_in_flight == 1


@pytest.fixture()
def three_slots(tmp_path: Path) -> Iterator[Settings]:
    """An installation whose workers run three documents at once; tenants' own caps left high."""
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_PIPELINE_SLOTS": "3",
                       "AEGIS_TENANT_MAX_IN_FLIGHT": "10"})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def test_the_installation_admits_up_to_its_slots_and_a_newcomer_goes_past_them(three_slots: Settings) -> None:
    with session_scope(three_slots) as session:
        a = _tenant(session, "a")
        a_ids = _waiting(session, a, 6)
    with session_scope(three_slots) as session:
        assert [d.document_id for d in admission.admit(session, three_slots)] == a_ids[:3]
    with session_scope(three_slots) as session:
        assert admission.admit(session, three_slots) == []  # full, though a's own cap is 10
        b = _tenant(session, "b")
        b_ids = _waiting(session, b, 2)
    with session_scope(three_slots) as session:
        # b has nothing in flight: one document at once, not after a's next end; one only.
        assert [d.document_id for d in admission.admit(session, three_slots, [b])] == b_ids[:1]
        assert admission.in_flight_total(session) == 4
        assert admission.admit(session, three_slots) == []


def test_a_freed_slot_goes_to_the_tenant_with_the_fewest_in_flight(three_slots: Settings) -> None:
    with session_scope(three_slots) as session:
        a = _tenant(session, "a")
        c = _tenant(session, "c")
        a_ids = _waiting(session, a, 6)
    with session_scope(three_slots) as session:
        admission.admit(session, three_slots)  # a: 3 in flight, the installation is full
        c_ids = _waiting(session, c, 3)
    with session_scope(three_slots) as session:
        assert [d.document_id for d in admission.admit(session, three_slots)] == c_ids[:1]  # the newcomer's one
        _end(session, a_ids[0])
        _end(session, a_ids[1])
    with session_scope(three_slots) as session:
        # Two ends: 2 in flight (a 1, c 1), so one slot is free; the newcomer's overshoot is absorbed.
        got = admission.admit(session, three_slots)
        assert len(got) == 1 and admission.in_flight_total(session) == 3
        _end(session, got[0].document_id)
        _end(session, a_ids[2])
    with session_scope(three_slots) as session:
        # a has 1 in flight, c 1 or 2: the slots go to whoever has fewer, never both to a.
        counts = {t: admission.in_flight(session, t) for t in (a, c)}
        got = admission.admit(session, three_slots)
        after = {t: admission.in_flight(session, t) for t in (a, c)}
    assert len(got) == 3 - sum(counts.values())
    assert abs(after[a] - after[c]) <= 1, (counts, after)


def test_plan_fills_the_fewest_first_and_respects_caps_and_waiting_work() -> None:
    def cand(name: str, cap: int, running: int, queued: int) -> admission._Candidate:
        return admission._Candidate(name, cap, running, queued)

    found = [cand("new", 10, 0, 5), cand("low", 10, 1, 5), cand("high", 10, 4, 5)]
    plan = {c.tenant_id: c.plan for c in admission.plan(5, 8, found)}
    # 3 free: the newcomer's one, then one at a time to the fewest in flight.
    assert plan == {"new": 2, "low": 1}
    assert {c.tenant_id: c.plan for c in admission.plan(9, 8, [cand("new", 10, 0, 5), cand("x", 10, 9, 5)])} == {
        "new": 1}
    capped = admission.plan(0, 8, [cand("a", 2, 1, 5), cand("b", 10, 0, 1)])
    assert {c.tenant_id: c.plan for c in capped} == {"a": 1, "b": 1}  # caps and waiting work stop it early


def test_a_pass_with_nothing_waiting_is_one_statement(settings: Settings) -> None:
    from sqlalchemy import event

    from aegis.persistence.db import get_engine

    with session_scope(settings) as session:
        a = _tenant(session, "a")
        ids = _waiting(session, a, 1)
    with session_scope(settings) as session:
        admission.admit(session, settings)
        _end(session, ids[0])
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    engine = get_engine(settings)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with session_scope(settings) as session:
            assert admission.admit(session, settings) == []
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1, statements


def test_the_tenant_cap_defaults_to_the_installations_slots(tmp_path: Path) -> None:
    from aegis.config import SettingsError

    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_PIPELINE_SLOTS": "12"})
    assert (s.pipeline_slots, s.tenant_max_in_flight) == (12, 12)
    assert load_settings({"AEGIS_DATA_DIR": str(tmp_path)}).pipeline_slots == 5  # one process per stage
    with pytest.raises(SettingsError, match="AEGIS_PIPELINE_SLOTS"):
        load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_PIPELINE_SLOTS": "0"})


def test_a_newcomers_first_document_is_high_priority_and_the_rest_normal(settings: Settings) -> None:
    on_redis = replace(settings, broker_url="redis://127.0.0.1:6379/0")
    high, normal = priority.for_document(0, "redis"), priority.for_document(1, "redis")
    with session_scope(on_redis) as session:
        a = _tenant(session, "a", cap=3)
        b = _tenant(session, "b", cap=3)
        a_ids = _waiting(session, a, 4)
    with session_scope(on_redis) as session:
        first = admission.admit(session, on_redis, [a])
    assert [(d.document_id, d.priority) for d in first] == [(a_ids[0], high), (a_ids[1], normal), (a_ids[2], normal)]
    with session_scope(on_redis) as session:
        b_ids = _waiting(session, b, 1)
        _end(session, a_ids[0])
    with session_scope(on_redis) as session:
        # A still has two in flight: its next is normal; B has none: high.
        assert {d.document_id: d.priority for d in admission.admit(session, on_redis)} == {
            a_ids[3]: normal, b_ids[0]: high,
        }
        # A re-send is decided again from the tenant's documents in flight now.
        assert admission.resend_priorities(session, on_redis, [a_ids[1], b_ids[0]]) == {
            a_ids[1]: normal, b_ids[0]: high,
        }
    with session_scope(settings) as session:  # the embedded broker: no priorities at all
        assert set(admission.resend_priorities(session, settings, [a_ids[1]]).values()) == {None}
