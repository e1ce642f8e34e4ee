"""Errors as ``application/problem+json`` (RFC 9457) with a stable ``code``."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

PROBLEM_BASE = "https://aegis.dev/problems/"


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title
        self.extra = extra


def problem(status: int, code: str, detail: str, title: str | None = None, **extra: Any) -> Response:
    body = {
        "type": PROBLEM_BASE + code,
        "title": title or code.replace("_", " ").capitalize(),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


# Werkzeug's exceptions mapped to our stable codes.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "file_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = problem(exc.status, exc.code, exc.detail, exc.title, **exc.extra)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="aegis"'
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        detail = exc.description or ""
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            detail = f"The upload is larger than the limit of {limit} bytes."
        return problem(status, code, detail)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        app.logger.exception("unhandled error")
        return problem(500, "internal_error", "Something went wrong on our side; it has been logged.")
