"""Errors as ``application/problem+json`` (RFC 9457) with a stable ``code``.

Codes, their HTTP statuses and their default sentences come from
:mod:`aegis.vocabulary`, so an endpoint names only the code (and a more specific
sentence when it has one) and the answer cannot disagree with the docs.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from aegis.vocabulary import ERRORS, ErrorCode, code_for_http_status
from aegis.vocabulary import HTTP_CODES as HTTP_CODES  # re-exported: Werkzeug's statuses to our codes

PROBLEM_BASE = "https://aegis.dev/problems/"


def _status_of(code: ErrorCode, status: int | None) -> int:
    # A code without an HTTP status of its own (an AI failure surfacing in search) needs one from the caller.
    return status or ERRORS[code].http_status or 500


class ApiError(Exception):
    """Raised by endpoints; ``status`` and ``detail`` default to the vocabulary's for ``code``."""

    def __init__(
        self,
        code: ErrorCode,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        self.code = ErrorCode(code)
        self.headers = headers or {}
        self.status = _status_of(self.code, status)
        self.detail = detail or ERRORS[self.code].message
        super().__init__(self.detail)
        self.title = title
        self.extra = extra


def problem_body(
    code: ErrorCode, detail: str | None = None, *, status: int | None = None, title: str | None = None, **extra: Any
) -> dict[str, Any]:
    """The problem document; also written by the gunicorn worker for errors no view sees (414, 431)."""
    code = ErrorCode(code)
    return {
        "type": PROBLEM_BASE + code,
        "title": title or code.replace("_", " ").capitalize(),
        "status": _status_of(code, status),
        "detail": detail or ERRORS[code].message,
        "code": str(code),
        **extra,
    }


def problem(
    code: ErrorCode, detail: str | None = None, *, status: int | None = None, title: str | None = None, **extra: Any
) -> Response:
    body = problem_body(code, detail, status=status, title=title, **extra)
    response = jsonify(body)
    response.status_code = body["status"]
    response.mimetype = "application/problem+json"
    return response


def register(app: Flask) -> None:
    from sqlalchemy.exc import DBAPIError

    from aegis.persistence.storage import StorageError

    @app.errorhandler(StorageError)
    def _storage_error(exc: StorageError) -> Response:
        # Raised from inside the multipart parser too (a part is streamed to the store as it arrives).
        logging.getLogger("aegis.gateway").warning("blob store unavailable: %s", exc)
        response = problem(ErrorCode.STORAGE_UNAVAILABLE)
        response.headers["Retry-After"] = str(int(getattr(exc, "retry_after", 5)))
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        if not exc.connection_invalidated:
            return _unexpected(exc)
        # A connection PostgreSQL dropped mid-request (a restart, a failover; the pool's
        # pre-ping only catches those dropped between requests). SQLAlchemy has discarded
        # the pool's older connections; the request rolled back, so the client can retry.
        logging.getLogger("aegis.gateway").warning("database connection lost: %s", exc.orig)
        response = problem(ErrorCode.DATABASE_UNAVAILABLE)
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = problem(exc.code, exc.detail, status=exc.status, title=exc.title, **exc.extra)
        response.headers.update(exc.headers)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="aegis"'
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = exc.description or ""
        if status == 413:
            # Issue 10, item 6: quote the file limit people configure and read in the docs
            # (AEGIS_MAX_UPLOAD_BYTES), not the request limit, which adds multipart headroom.
            from web.context import settings

            detail = f"The upload is larger than the limit of {settings().max_upload_bytes} bytes."
        return problem(code_for_http_status(status), detail, status=status)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problem(ErrorCode.INTERNAL_ERROR)
