"""Per-tenant token budgets: refuse before spending, count after."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from aegis.ai import BudgetExceeded, check_budget, effective_budget, record_usage
from aegis.ai.local import LocalProvider
from aegis.config import load_settings
from aegis.persistence.models import Base, Tenant


def tenant(budget: int = 0, used: int = 0) -> SimpleNamespace:
    return SimpleNamespace(token_budget=budget, tokens_used=used)


def test_the_tenants_own_budget_wins_over_the_default() -> None:
    settings = load_settings({"AEGIS_TENANT_TOKEN_BUDGET": "500"})
    assert effective_budget(tenant(budget=100), settings) == 100
    assert effective_budget(tenant(budget=0), settings) == 500
    assert effective_budget(tenant(budget=0), load_settings({})) == 0


def test_spending_within_the_budget_returns_what_is_left() -> None:
    assert check_budget(tenant(budget=1000, used=300), 200) == 500


def test_spending_past_the_budget_is_refused_with_a_stable_code() -> None:
    with pytest.raises(BudgetExceeded) as caught:
        check_budget(tenant(budget=1000, used=900), 200)
    assert caught.value.code == "token_budget_exceeded"
    assert (caught.value.used, caught.value.budget, caught.value.requested) == (900, 1000, 200)


def test_the_default_budget_applies_to_tenants_without_one() -> None:
    with pytest.raises(BudgetExceeded):
        check_budget(tenant(used=450), 100, load_settings({"AEGIS_TENANT_TOKEN_BUDGET": "500"}))


def test_no_budget_means_unlimited() -> None:
    assert check_budget(tenant(used=10**12), 10**9) is None


def test_free_local_work_is_never_refused_even_over_budget() -> None:
    exhausted = tenant(budget=100, used=100)
    assert check_budget(exhausted, LocalProvider().estimate_tokens("a long text " * 1000)) == 0


def test_recorded_usage_is_added_to_the_tenants_counter() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine)
    try:
        with factory() as session, session.begin():
            session.add(Tenant(id="t1", name="one", tokens_used=10))
            session.add(Tenant(id="t2", name="two", tokens_used=0))
        with factory() as session, session.begin():
            record_usage(session, "t1", {"prompt_tokens": 70, "completion_tokens": 30, "total_tokens": 100})
            record_usage(session, "t1", 5)
            record_usage(session, "t1", {"total_tokens": 0})
        with factory() as session:
            assert session.get(Tenant, "t1").tokens_used == 115
            assert session.get(Tenant, "t2").tokens_used == 0
    finally:
        engine.dispose()
