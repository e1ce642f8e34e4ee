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
from aegis.pipeline import admission, reconciler
from aegis.pipeline.chain import reset_for_reprocess
from aegis.services.documents import create_document


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
        doc = create_document(session, tenant_id, f"{i}.txt", uuid.uuid4().hex * 2, 1, admitted=False).document
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
