"""``GET /v1/search``: semantic search over the tenant's chunks."""

from __future__ import annotations

from flask import Blueprint, Response, g, jsonify, request

from aegis.ai import AIError
from aegis.services.documents import parse_id
from aegis.services.search import MAX_K, search
from aegis.vocabulary import ErrorCode
from web import auditing
from web.auth import require_tenant
from web.context import provider, settings, vector_store
from web.db import db_session
from web.errors import ApiError

bp = Blueprint("search", __name__, url_prefix="/v1")


@bp.get("/search")
@require_tenant
def search_chunks() -> Response:
    q = (request.args.get("q") or "").strip()
    if not q:
        raise ApiError(ErrorCode.MISSING_QUERY)
    try:
        k = int(request.args.get("k", 10))
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID_K, f"k must be an integer from 1 to {MAX_K}.") from exc
    if not 1 <= k <= MAX_K:
        raise ApiError(ErrorCode.INVALID_K, f"k must be an integer from 1 to {MAX_K}.")
    document_id = request.args.get("document_id") or None
    if document_id is not None:
        # Checked before any query: PostgreSQL refuses a NUL byte in text with an error, not a miss.
        document_id = parse_id(document_id)
        if document_id is None:
            raise ApiError(ErrorCode.INVALID_DOCUMENT_ID)
    try:
        results = search(
            db_session(), settings(), provider(), vector_store(), g.tenant.id, q, k=k, document_id=document_id,
        )
    except AIError as exc:
        # Any AI failure, permanent or not, makes search unavailable rather than the request wrong.
        raise ApiError(exc.code, f"Search is unavailable right now: {exc.message}", status=503) from exc
    # The query itself may be sensitive: the log keeps its length, not its words.
    auditing.record("search", "ok", document_ids=[document_id],
                    detail={"query_chars": len(q), "k": k, "results": len(results)})
    return jsonify({"query": q, "results": results})
