"""``/v1/me`` (who the key belongs to and what it may do) and ``/v1/audit`` (the tenant's log)."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from aegis.services import audit
from aegis.services.documents import parse_id
from aegis.services.tenants import abilities
from aegis.vocabulary import ErrorCode
from web.auth import require_scope, require_tenant
from web.db import db_session
from web.errors import ApiError

bp = Blueprint("account", __name__, url_prefix="/v1")


@bp.get("/me")
@require_tenant
def me() -> Response:
    return jsonify({
        "tenant": g.tenant.name,
        "key_id": g.key_id,
        "scope": g.scope,
        "scopes": abilities(g.scope),
    })


@bp.get("/audit")
@require_scope("admin")
def audit_log() -> Response:
    """The signed-in tenant's events, oldest first; the tenant comes from the key, never the query."""
    args = request.args
    try:
        limit = min(max(int(args.get("limit", 100)), 1), 500)
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID_LIMIT, "limit must be an integer from 1 to 500.") from exc
    document_id = args.get("document_id") or None
    if document_id is not None:
        document_id = parse_id(document_id)
        if document_id is None:
            raise ApiError(ErrorCode.INVALID_DOCUMENT_ID)
    try:
        events, cursor = audit.list_events(
            db_session(), g.tenant.id, since=audit.parse_since(args.get("since")),
            action=args.get("action") or None, document_id=document_id, cursor=args.get("cursor") or None,
            limit=limit,
        )
    except audit.InvalidQuery as exc:
        code = ErrorCode.INVALID_CURSOR if isinstance(exc, audit.InvalidCursor) else ErrorCode.BAD_REQUEST
        raise ApiError(code, str(exc)) from exc
    return jsonify({"events": [audit.to_dict(e) for e in events], "next_cursor": cursor})
