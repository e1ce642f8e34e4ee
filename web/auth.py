"""API-key authentication: ``Authorization: Bearer <key>`` resolves to one tenant."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from aegis.observability.logs import add_context
from aegis.services.tenants import authenticate
from aegis.vocabulary import ErrorCode
from web.db import db_session
from web.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def bearer_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    # EventSource cannot send headers: the events stream alone also takes ?key=.
    if request.path.endswith("/events") and request.args.get("key"):
        return request.args["key"]
    return None


def require_tenant(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = bearer_key()
        if key is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "Send an API key as 'Authorization: Bearer <key>'.")
        tenant = authenticate(db_session(), key)
        if tenant is None:
            raise ApiError(ErrorCode.UNAUTHORIZED, "The API key is not valid or has been revoked.")
        g.tenant = tenant
        # Hand the connection back to the pool now: an upload may then take minutes to
        # arrive and an event stream minutes to end, and neither may hold a connection
        # meanwhile (the pool is small; other tenants' requests need it).
        db_session().commit()
        add_context(tenant=tenant.name)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
