"""Request bodies that trickle are cut off with 408 instead of holding a connection forever.

A client that sends an upload at one byte a second costs a greenlet and a socket
under the gevent worker (not a thread, as it did under gthread), but it would
still hold them, and the file's temporary blob, for as long as it likes. The body
must therefore arrive within ``AEGIS_BODY_TIMEOUT`` seconds plus one second per
``AEGIS_BODY_MIN_RATE`` bytes received: Apache's mod_reqtimeout rule, generous to
a slow honest link and short for a trickle.

The deadline covers whole ``read`` calls (gunicorn's body reader loops over many
``recv`` calls to fill one), so under gevent it is a ``gevent.Timeout``; without
gevent (the Flask test client, a thread worker) it degrades to a per-read socket
timeout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from werkzeug.exceptions import RequestTimeout

from aegis.config import GatewayLimits

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BodyTooSlow(RequestTimeout):
    """Raised from a body read; not an ``OSError``, so Werkzeug does not mistake it for a disconnect."""

    description = "The request body arrived too slowly; send it again at a steady pace."


def _gevent_active() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey is not None and monkey.is_module_patched("socket"))


class DeadlineInput:
    """``wsgi.input`` with a deadline that grows with the bytes received."""

    def __init__(self, stream: IO[bytes], limits: GatewayLimits, sock: Any = None) -> None:
        self._stream = stream
        self._limits = limits
        self._sock = sock
        self._started = time.monotonic()
        self._received = 0
        self._gevent = _gevent_active()

    def _remaining(self) -> float:
        allowed = self._limits.body_timeout + self._received / self._limits.body_min_rate
        remaining = self._started + allowed - time.monotonic()
        if remaining <= 0:
            raise BodyTooSlow()
        return remaining

    def _call(self, read: Callable[[], bytes]) -> bytes:
        remaining = self._remaining()
        if self._gevent:
            import gevent

            with gevent.Timeout(remaining, BodyTooSlow()):
                data = read()
        else:
            if self._sock is not None:
                self._sock.settimeout(remaining)
            try:
                data = read()
            except TimeoutError as exc:
                raise BodyTooSlow() from exc
        self._received += len(data)
        return data

    def read(self, size: int | None = -1) -> bytes:
        return self._call(lambda: self._stream.read(size) if size is not None else self._stream.read())

    def readline(self, size: int | None = -1) -> bytes:
        return self._call(lambda: self._stream.readline(size) if size is not None else self._stream.readline())

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(iter(self.readline, b""))

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.readline, b"")


class SlowBodyGuard:
    """WSGI middleware installing :class:`DeadlineInput` on requests that carry a body."""

    def __init__(self, app: WSGIApp, limits: GatewayLimits) -> None:
        self.app = app
        self.limits = limits

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        has_body = environ.get("CONTENT_LENGTH") not in (None, "", "0") or "chunked" in environ.get(
            "HTTP_TRANSFER_ENCODING", ""
        ).lower()
        if has_body and environ.get("wsgi.input") is not None:
            environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], self.limits, environ.get("gunicorn.socket"))
        return self.app(environ, start_response)
