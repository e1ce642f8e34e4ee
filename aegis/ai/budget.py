"""Per-tenant token budgets for paid providers.

The ai stage checks *before* it spends (an estimate of the tokens the document
will cost against what the tenant has left) and records *after* (the usage the
provider reported). The check is deliberately pessimistic: a document that would
cross the budget is refused whole rather than half-analysed. Recording is an
atomic ``UPDATE ... SET tokens_used = tokens_used + n`` so concurrent workers of
the same tenant never lose an increment.

A tenant's own ``token_budget`` wins; 0 there falls back to
``AEGIS_TENANT_TOKEN_BUDGET``; 0 there too means unlimited.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session

from aegis.ai.errors import BudgetExceeded
from aegis.config import Settings
from aegis.persistence.models import Tenant


class TenantBudget(Protocol):
    """What a budget check reads of a tenant: a detached copy, so no session is held open."""

    @property
    def token_budget(self) -> int: ...

    @property
    def tokens_used(self) -> int: ...


def effective_budget(tenant: TenantBudget, settings: Settings | None = None) -> int:
    """The tenant's own budget, else ``AEGIS_TENANT_TOKEN_BUDGET``; 0 means unlimited."""
    own = tenant.token_budget or 0
    if own > 0:
        return own
    return settings.tenant_token_budget if settings is not None else 0


def check_budget(tenant: TenantBudget, estimated_tokens: int, settings: Settings | None = None) -> int | None:
    """Raise :class:`BudgetExceeded` if spending ``estimated_tokens`` would cross the budget.

    Returns the tokens left after this spend, or ``None`` when unlimited. Free work
    (``estimated_tokens == 0``, the local provider) is never refused.
    """
    budget = effective_budget(tenant, settings)
    if budget <= 0:
        return None
    used = tenant.tokens_used or 0
    if estimated_tokens <= 0:
        return max(0, budget - used)
    if used + estimated_tokens > budget:
        raise BudgetExceeded(
            f"this document needs about {estimated_tokens} tokens but the tenant has "
            f"{max(0, budget - used)} of its {budget} left",
            used=used,
            budget=budget,
            requested=estimated_tokens,
        )
    return budget - used - estimated_tokens


def record_usage(session: Session, tenant_id: str, usage: dict[str, int] | int) -> int:
    """Add the tokens spent to the tenant's counter; the caller commits."""
    tokens = usage if isinstance(usage, int) else int(usage.get("total_tokens", 0) or 0)
    if tokens > 0:
        session.execute(update(Tenant).where(Tenant.id == tenant_id).values(tokens_used=Tenant.tokens_used + tokens))
    return tokens
