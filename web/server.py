"""The gateway's gunicorn worker: gevent, answering gunicorn's own errors as problem+json.

Why gevent (and not a separate async events server): both of the ways one tenant
stalled the gateway, event streams and bodies sent at a byte a second, are
connections that wait. Under gevent each waits in a greenlet, not in one of a few
request threads, and the API, the event streams and uploads stay one process
behind one set of routes: no second server to deploy, route to and keep in step.
The code stays synchronous Flask: psycopg 3 (which picks a cooperative wait
function once ``select`` is patched), redis-py and requests all yield to the
event loop under gevent's monkey-patching, which the worker applies before the
app is imported.

gunicorn parses the request line and headers before any view runs and answers
its limits (request line over ``limit_request_line``, headers over
``limit_request_field_size``/``limit_request_fields``) with an HTML page of its
own. ``handle_error`` answers those with the same problem+json and stable codes
as every other error instead.
"""

from __future__ import annotations

import json
from typing import Any

from gunicorn.http import errors as http_errors
from gunicorn.workers.ggevent import GeventWorker

from aegis.vocabulary import ErrorCode

_REASONS = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def _classify(exc: BaseException) -> tuple[int, ErrorCode, str] | None:
    """Status, code and sentence for an error gunicorn raises while parsing, else None."""
    if isinstance(exc, http_errors.LimitRequestLine):
        return 414, ErrorCode.URI_TOO_LONG, "The request line is longer than the server accepts."
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return 431, ErrorCode.HEADERS_TOO_LARGE, "The request headers are larger than the server accepts."
    parse_errors = (
        http_errors.InvalidRequestLine, http_errors.InvalidRequestMethod, http_errors.InvalidHTTPVersion,
        http_errors.InvalidHeader, http_errors.InvalidHeaderName, http_errors.InvalidChunkSize,
        http_errors.ChunkMissingTerminator,
    )
    if isinstance(exc, parse_errors):
        return 400, ErrorCode.BAD_REQUEST, "The request is not valid HTTP."
    return None


def problem_response(status: int, code: ErrorCode, detail: str) -> bytes:
    """A complete HTTP/1.1 response carrying a problem document; the connection then closes."""
    from web.errors import problem_body

    body = json.dumps(problem_body(code, detail, status=status)).encode()
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/problem+json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class GatewayWorker(GeventWorker):
    """gunicorn's gevent worker with problem+json for the errors it answers itself."""

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        known = _classify(exc)
        if known is None:
            super().handle_error(req, client, addr, exc)
            return
        status, code, detail = known
        self.log.warning("Invalid request from ip=%s: %s (%s)", (addr or ("",))[0], code, exc)
        try:
            client.sendall(problem_response(status, code, detail))
        except OSError:
            self.log.debug("Failed to send error response.")
