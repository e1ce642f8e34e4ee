"""API-key authentication: ``Authorization: Bearer <key>`` resolves to one tenant."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

from flask import g, request

from aegis.observability.logs import add_context
from aegis.services import limits
from aegis.services.documents import parse_id
from aegis.services.tenants import allows, verify_key
from aegis.vocabulary import ErrorCode
from web.context import settings
from web.db import db_session
from web.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("aegis.gateway.auth")


def bearer_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    # EventSource cannot send headers: the events stream alone also takes ?key=.
    if request.path.endswith("/events") and request.args.get("key"):
        return request.args["key"]
    return None


# Methods that only read; every other method on /v1 needs the ``write`` scope.
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def require_tenant(view: F) -> F:
    """Authenticate, then require ``read`` for reading methods and ``write`` for the others."""
    return _guarded(view, None)


def require_scope(scope: str) -> Callable[[F], F]:
    """Like :func:`require_tenant`, with the scope named (``admin`` for the audit log)."""
    def decorate(view: F) -> F:
        return _guarded(view, scope)

    return decorate


def _guarded(view: F, scope: str | None) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = bearer_key()
        if key is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "Send an API key as 'Authorization: Bearer <key>'.")
        session = db_session()
        # Remembered by this process for a few seconds (tenants.KEY_CACHE_SECONDS): a
        # request with a known key costs no database round trip before its own work.
        row = verify_key(session, key)
        if row is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "The API key is not valid or has been revoked.")
        # Hand the connection (if the key was read) back to the pool now: an upload may then
        # take minutes to arrive and an event stream minutes to end, and neither may hold a
        # connection meanwhile (the pool is small; other tenants' requests need it).
        session.commit()
        # The request's own copy of the shared, detached tenant; no query (load=False).
        tenant = session.merge(row.tenant, load=False)
        g.tenant = tenant
        g.key_id = row.key_id
        g.scope = row.scope
        _count_request(tenant)
        needed = scope or ("read" if request.method in _READ_METHODS else "write")
        if not allows(row.scope, needed):
            denied(needed)
        add_context(tenant=tenant.name)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def denied(needed: str) -> NoReturn:
    """403 ``insufficient_scope``, naming the scope the key has and the one it needs; audited."""
    from web import auditing

    raw = (request.view_args or {}).get("document_id")
    document_id = parse_id(raw) if isinstance(raw, str) else None  # never a caller's garbage in the log
    auditing.record(
        "auth.denied", ErrorCode.INSUFFICIENT_SCOPE, document_ids=[document_id],
        detail={"method": request.method, "path": request.path[:200], "scope": g.scope, "needed": needed},
    )
    raise ApiError(
        ErrorCode.INSUFFICIENT_SCOPE,
        f"This API key has the {g.scope!r} scope; {request.method} {request.path} needs {needed!r}.",
        scope=g.scope, needed=needed,
    )


def _count_request(tenant: Any) -> None:
    """The tenant's request rate, shared by every gateway replica through Redis.

    Counted after authentication (the bucket is the tenant's, not the caller's
    address) and before the view does any work. Redis being down must not take the
    API down with it: the request then goes uncounted.
    """
    try:
        decision = limits.take_request(limits.counters(settings().events_url), tenant)
    except Exception as exc:  # noqa: BLE001 - fail open; the rate limit is a courtesy, not a guard
        log.warning("request rate not counted: %s", exc)
        return
    if decision is None:
        return
    g.rate = decision
    if not decision.allowed:
        raise ApiError(
            ErrorCode.RATE_LIMITED,
            f"This tenant may send {tenant.requests_per_second:g} requests a second "
            f"(bursts of {decision.limit}); retry in {decision.retry_after} s.",
            headers={"Retry-After": str(decision.retry_after)},
            retry_after=decision.retry_after,
        )


def rate_headers(response: Any) -> Any:
    """``X-RateLimit-Limit`` and ``X-RateLimit-Remaining`` on every answer to a rate-limited tenant."""
    decision = g.get("rate")
    if decision is not None:
        response.headers["X-RateLimit-Limit"] = str(decision.limit)
        response.headers["X-RateLimit-Remaining"] = str(decision.remaining)
    return response
