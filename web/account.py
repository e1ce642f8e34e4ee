"""``/v1/me``: who the key belongs to and what it may do (the web page shows it)."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify

from aegis.services.tenants import abilities
from web.auth import require_tenant

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
