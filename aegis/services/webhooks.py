"""Webhooks: a signed POST to the document's (or tenant's) ``callback_url`` when it ends.

The body is JSON; ``X-Aegis-Signature: t=<unix time>,v1=<hex>`` is
HMAC-SHA256 over ``"<t>.<body>"`` with ``AEGIS_WEBHOOK_SECRET``, so a receiver can
check both origin and freshness. Only http(s) URLs are accepted, and no address
that resolves to a private, loopback, link-local or reserved network unless
``AEGIS_ALLOW_PRIVATE_WEBHOOKS`` is on: an upload must not make our workers probe
the internal network. The check runs at upload and again before each delivery
(DNS can change in between), and delivery connects to the address that check
approved rather than resolving the name a third time (DNS rebinding).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aegis.config import Settings
from aegis.vocabulary import ERRORS, ErrorCode

SIGNATURE_HEADER = "X-Aegis-Signature"
TIMEOUT_SECONDS = 10.0
MAX_URL_LENGTH = 2048


class WebhookError(Exception):
    """A callback URL we refuse (``code`` is stable); the message defaults to the vocabulary's."""

    def __init__(self, code: ErrorCode, message: str | None = None) -> None:
        self.code = code
        self.message = message or ERRORS[code].message
        super().__init__(self.message)


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300) -> bool:
    """What a receiver does (also used by our tests)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


@dataclass(frozen=True)
class Target:
    """A callback URL that passed the checks, with the addresses the check approved.

    Delivery connects to ``addresses[0]`` itself instead of resolving the host again:
    between two lookups DNS can change (rebinding), and the second answer could be
    a private address the check never saw. Empty when private addresses are allowed.
    """

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _invalid(message: str) -> WebhookError:
    return WebhookError(ErrorCode.INVALID_CALLBACK_URL, message)


def _hostname(raw: str) -> str:
    """The host as an ASCII name or an IP literal, or a WebhookError.

    ``getaddrinfo`` and the ``idna`` codec raise ``UnicodeError`` on empty or
    over-long labels (``a..b.com``, ``.com``, 64 characters) and on characters
    no host name may hold, so names are checked here first, label by label.
    """
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    try:
        ascii_name = raw.encode("idna").decode("ascii").lower()
    except (UnicodeError, ValueError) as exc:
        raise _invalid("The callback URL's host is not a valid host name.") from exc
    labels = ascii_name.removesuffix(".").split(".")
    if len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise _invalid("The callback URL's host is not a valid host name.")
    return ascii_name


def check(url: str, settings: Settings) -> Target:
    """Parse and check a callback URL; raises WebhookError (never anything else) if we may not call it."""
    if not settings.webhook_secret:
        raise WebhookError(ErrorCode.WEBHOOKS_DISABLED, "Webhooks need AEGIS_WEBHOOK_SECRET to be set on the server.")
    if len(url) > MAX_URL_LENGTH:
        raise _invalid("The callback URL is too long.")
    if not url.isprintable() or (not url.isascii() and _has_surrogates(url)):
        # Control characters, or bytes that were not UTF-8 (surrogate-escaped by the shell).
        raise _invalid("The callback URL contains characters a URL cannot hold.")
    try:
        parts = urlsplit(url)
        port = parts.port
        raw_host = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL", a port out of range
        raise _invalid(f"The callback URL cannot be parsed: {exc}.") from exc
    if parts.scheme not in ("http", "https") or not raw_host:
        raise _invalid("The callback URL must be an http(s) URL with a host.")
    if parts.username or parts.password:
        raise _invalid("The callback URL must not carry credentials.")
    host = _hostname(raw_host)
    port = port or (443 if parts.scheme == "https" else 80)
    if settings.allow_private_webhooks:
        return Target(url, host, port, ())
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise _invalid(f"The callback host does not resolve: {exc}") from exc
    addresses: list[str] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not _is_public(address):
            raise WebhookError(
                ErrorCode.PRIVATE_CALLBACK_URL,
                "The callback URL points to a private or local address, which is not allowed.",
            )
        addresses.append(str(address))
    if not addresses:
        raise _invalid("The callback host does not resolve.")
    return Target(url, host, port, tuple(dict.fromkeys(addresses)))


def check_url(url: str, settings: Settings) -> str:
    """Return the URL if we may call it, else raise WebhookError."""
    return check(url, settings).url


def _has_surrogates(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may connect to ``address`` (a seam for the rebinding test)."""
    return address.is_global and not address.is_multicast


def payload(document: dict[str, Any]) -> bytes:
    body = {
        "event": "document.ended",
        "document": {k: document.get(k) for k in ("id", "filename", "status", "error", "mime", "size", "sha256")},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def deliver(url: str, body: bytes, settings: Settings) -> int:
    """POST once to the address the check approved; returns the HTTP status. Raises on network errors."""
    import requests

    target = check(url, settings)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(settings.webhook_secret or "", body),
        "User-Agent": "aegis-webhook/1",
    }
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would resolve the host itself
        if target.addresses:
            adapter = _pinned_adapter(target.addresses[0])
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        response = session.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
        return response.status_code


def _pinned_adapter(address: str) -> Any:
    """A requests adapter whose connections go to ``address`` whatever the URL's host resolves to.

    Only the TCP connect changes: the Host header, TLS SNI and certificate checks
    still use the URL's host name, so HTTPS verification works as before.
    """
    from requests.adapters import HTTPAdapter
    from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util import connection as urllib3_connection

    def new_conn(conn: HTTPConnection) -> socket.socket:
        try:
            return urllib3_connection.create_connection(
                (address, conn.port), conn.timeout, source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(conn, f"Connection to {conn.host} ({address}) timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(conn, f"Failed to connect to {conn.host} ({address}): {exc}") from exc

    class PinnedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class PinnedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class PinnedHTTPPool(HTTPConnectionPool):
        ConnectionCls = PinnedHTTPConnection

    class PinnedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = PinnedHTTPSConnection

    class PinnedAdapter(HTTPAdapter):
        def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kwargs: Any) -> None:
            self.poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": PinnedHTTPPool, "https": PinnedHTTPSPool}

    return PinnedAdapter()
