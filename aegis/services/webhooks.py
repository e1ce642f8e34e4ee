"""Webhooks: a signed POST to the document's (or tenant's) ``callback_url`` when it ends.

The body is JSON; ``X-Aegis-Signature: t=<unix time>,v1=<hex>`` is
HMAC-SHA256 over ``"<t>.<body>"`` with ``AEGIS_WEBHOOK_SECRET``, so a receiver can
check both origin and freshness. Only http(s) URLs are accepted, and no address
that resolves to a private, loopback, link-local or reserved network unless
``AEGIS_ALLOW_PRIVATE_WEBHOOKS`` is on: an upload must not make our workers probe
the internal network. The check runs at upload and again before each delivery
(DNS can change in between).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
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


def check_url(url: str, settings: Settings) -> str:
    """Return the URL if we may call it, else raise WebhookError."""
    if not settings.webhook_secret:
        raise WebhookError(ErrorCode.WEBHOOKS_DISABLED, "Webhooks need AEGIS_WEBHOOK_SECRET to be set on the server.")
    if len(url) > MAX_URL_LENGTH:
        raise WebhookError(ErrorCode.INVALID_CALLBACK_URL, "The callback URL is too long.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(ErrorCode.INVALID_CALLBACK_URL, "The callback URL must be an http(s) URL with a host.")
    if parts.username or parts.password:
        raise WebhookError(ErrorCode.INVALID_CALLBACK_URL, "The callback URL must not carry credentials.")
    if not settings.allow_private_webhooks:
        try:
            infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        except socket.gaierror as exc:
            raise WebhookError(ErrorCode.INVALID_CALLBACK_URL, f"The callback host does not resolve: {exc}") from exc
        for info in infos:
            address = ipaddress.ip_address(info[4][0])
            if not address.is_global or address.is_multicast:
                raise WebhookError(
                    ErrorCode.PRIVATE_CALLBACK_URL,
                    "The callback URL points to a private or local address, which is not allowed.",
                )
    return url


def payload(document: dict[str, Any]) -> bytes:
    body = {
        "event": "document.ended",
        "document": {k: document.get(k) for k in ("id", "filename", "status", "error", "mime", "size", "sha256")},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def deliver(url: str, body: bytes, settings: Settings) -> int:
    """POST once; returns the HTTP status. Raises on network errors."""
    import requests

    check_url(url, settings)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(settings.webhook_secret or "", body),
        "User-Agent": "aegis-webhook/1",
    }
    response = requests.post(url, data=body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    return response.status_code
