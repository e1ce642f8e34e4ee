"""API-key authentication: ``Authorization: Bearer <key>`` resolves to one tenant."""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar

from flask import g, request

from aegis.logs import add_context
from aegis.tenants import authenticate
from web.db import db_session
from web.errors import ApiError

F = TypeVar("F", bound=Callable[..., Any])


def bearer_key() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def require_tenant(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = bearer_key()
        if key is None:
            raise ApiError(401, "unauthorized", "Send an API key as 'Authorization: Bearer <key>'.")
        tenant = authenticate(db_session(), key)
        if tenant is None:
            raise ApiError(401, "unauthorized", "The API key is not valid or has been revoked.")
        g.tenant = tenant
        add_context(tenant=tenant.name)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
