"""One tenant's open event streams and trickling uploads must not stall another tenant.

Bounded (about half a minute): 200 event streams and 50 uploads sent at a byte a
second from tenant A, against one gateway worker process, while tenant B's
``/health``, list and upload are all answered before any of A's trickles has been
cut off at its body deadline (a gateway that queued B behind A's connections would
answer B only after those ends), and B's upload succeeds. The assertions are on
order and outcome, not on latency, so a loaded machine cannot fail them; B's p99 is
printed (bench/gateway_load.py measures it against an idle baseline). Beyond the
caps, streams get 429 ``too_many_streams`` with ``Retry-After``.
Every connection the test opens is closed before it ends.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from aegis.persistence.db import session_scope
from aegis.persistence.models import utcnow
from aegis.services import events
from aegis.services.documents import intake
from aegis.services.tenants import authenticate
from tests.harness import ApiClient, Stack

pytestmark = pytest.mark.integration

STREAMS = 200
TRICKLES = 50
ROUNDS = 10
# The trickles' body deadline: far longer than B's rounds take even on a loaded machine
# (tens of milliseconds each when idle), so B answered before any cut-off is the expected order.
BODY_TIMEOUT = 20


def _tenant_id(stack: Stack, key: str) -> str:
    with session_scope(stack.settings()) as session:
        tenant = authenticate(session, key)
        assert tenant is not None
        return tenant.id


def _parked_document(stack: Stack, tenant_id: str) -> str:
    """A document that stays ``processing`` for the whole test: its streams stay open.

    Made in the database, never sent to a worker, and its progress stamp is in the
    future so the reconciler leaves it alone.
    """
    with session_scope(stack.settings()) as session:
        document = intake(session, tenant_id, "parked.txt", uuid.uuid4().hex * 2, 10, admitted=True).document
        document.status = "processing"
        document.progress_at = utcnow() + timedelta(hours=1)
        session.flush()
        return document.id


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def _read_until(sock: socket.socket, marker: bytes, limit: float = 15) -> bytes:
    data = b""
    deadline = time.monotonic() + limit
    while marker not in data:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _open_stream(url: str, key: str, document_id: str) -> tuple[socket.socket, bytes]:
    sock = _connect(url)
    host = urlsplit(url).netloc
    sock.sendall(
        f"GET /v1/documents/{document_id}/events HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    return sock, _read_until(sock, b"\n\n", 30)


class Trickler:
    """Uploads whose body arrives at one byte per second, from one thread."""

    def __init__(self, url: str, key: str, count: int) -> None:
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()
        host = urlsplit(url).netloc
        body_head = (
            b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\n"
        )
        for _ in range(count):
            sock = _connect(url)
            sock.sendall(
                f"POST /v1/documents HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n".encode()
                + body_head
            )
            self.socks.append(sock)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            for sock in self.socks:
                try:
                    sock.send(b"x")
                except OSError:
                    pass  # the gateway gave up on this one (408): that is the point

    def answered(self) -> int:
        """How many trickles the gateway has answered (or closed) so far; reads nothing."""
        readable, _, _ = select.select(self.socks, [], [], 0)
        return len(readable)

    def answers(self) -> list[bytes]:
        self.stop.set()
        self.thread.join(5)
        out = []
        for sock in self.socks:
            try:
                out.append(_read_until(sock, b"}", BODY_TIMEOUT + 30))
            except OSError as exc:
                out.append(repr(exc).encode())
        return out

    def close(self) -> None:
        self.stop.set()
        for sock in self.socks:
            sock.close()


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@pytest.fixture()
def load_gateway(stack: Stack) -> Iterator[str]:
    """A gateway of its own: room for 200 streams from one tenant, and a known body deadline."""
    url = stack.start_gateway(
        "gateway-load", AEGIS_MAX_STREAMS_PER_TENANT=str(STREAMS), AEGIS_BODY_TIMEOUT=str(BODY_TIMEOUT),
    )
    try:
        yield url
    finally:
        log = stack.logs["gateway-load"].read_text()
        stack.stop("gateway-load", signal.SIGQUIT)  # every connection is closed already: no drain
        assert "Too many connections" not in log and "Traceback" not in log, log[-4000:]


def test_streams_and_trickles_from_one_tenant_do_not_stall_another(stack: Stack, load_gateway: str) -> None:
    noisy_key = stack.create_tenant(f"noisy-{uuid.uuid4().hex[:8]}")
    noisy_id = _tenant_id(stack, noisy_key)
    parked = _parked_document(stack, noisy_id)
    quiet = ApiClient(load_gateway, stack.create_tenant(f"quiet-{uuid.uuid4().hex[:8]}"))
    streams: list[socket.socket] = []
    trickler: Trickler | None = None
    try:
        for _ in range(STREAMS):
            sock, head = _open_stream(load_gateway, noisy_key, parked)
            streams.append(sock)
            assert head.startswith(b"HTTP/1.1 200") and b'"event": "snapshot"' in head, head[:300]
        trickler = Trickler(load_gateway, noisy_key, TRICKLES)

        timings: dict[str, list[float]] = {"health": [], "list": [], "upload": []}

        def quiet_round(round_: int) -> requests.Response:
            upload = None
            for name in timings:
                started = time.monotonic()
                if name == "health":
                    response = requests.get(load_gateway + "/health", timeout=10)
                elif name == "list":
                    response = quiet.get("/v1/documents")
                else:
                    body = f"quiet upload {round_} {uuid.uuid4()}".encode()
                    response = upload = quiet.upload_bytes(f"quiet-{round_}.txt", body)
                timings[name].append(time.monotonic() - started)
                assert response.status_code < 300, (name, response.status_code, response.text[:300])
            assert upload is not None
            return upload

        for round_ in range(ROUNDS):
            quiet_round(round_)
        # Order, not latency: every one of B's requests was answered while all of A's
        # trickles were still held open, none yet cut off at its deadline.
        assert trickler.answered() == 0, "tenant B was answered only after A's trickles were cut off"
        p99 = {name: round(_p99(samples), 3) for name, samples in timings.items()}
        print(f"tenant B p99 under load (s, informative): {p99}")

        # The trickling uploads were cut off with 408 problem+json, not left hanging.
        answers = trickler.answers()
        timed_out = [a for a in answers if a.startswith(b"HTTP/1.1 408") and b"request_timeout" in a]
        assert len(timed_out) == TRICKLES, [a[:200] for a in answers if a not in timed_out][:3]
        # Cutting them off left the gateway serving B, and B's upload went through the stack.
        last_upload = quiet_round(ROUNDS)
        assert quiet.wait(last_upload.json()["id"], timeout=120)["status"] == "succeeded"

        # Every stream is still live: one event reaches all 200, and ends them.
        events.publish(stack.settings(), noisy_id, parked, None, "document_succeeded")
        for sock in streams:
            assert b"document_succeeded" in _read_until(sock, b"document_succeeded", 15)
    finally:
        if trickler is not None:
            trickler.close()
        for sock in streams:
            sock.close()


def test_streams_beyond_the_tenant_cap_get_429_with_retry_after(stack: Stack) -> None:
    url = stack.start_gateway("gateway-caps", AEGIS_MAX_STREAMS_PER_TENANT="2", AEGIS_MAX_STREAMS_PER_PROCESS="3")
    streams: list[socket.socket] = []
    try:
        key = stack.create_tenant(f"capped-{uuid.uuid4().hex[:8]}")
        other = stack.create_tenant(f"other-{uuid.uuid4().hex[:8]}")
        parked = _parked_document(stack, _tenant_id(stack, key))
        other_parked = _parked_document(stack, _tenant_id(stack, other))
        for _ in range(2):
            sock, head = _open_stream(url, key, parked)
            streams.append(sock)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
        refused = requests.get(f"{url}/v1/documents/{parked}/events", headers={"Authorization": f"Bearer {key}"},
                               timeout=10)
        assert refused.status_code == 429 and refused.json()["code"] == "too_many_streams"
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert int(refused.headers["Retry-After"]) > 0
        # Another tenant still gets a stream, up to the process's cap (3), then 429 too.
        sock, head = _open_stream(url, other, other_parked)
        streams.append(sock)
        assert head.startswith(b"HTTP/1.1 200"), head[:200]
        full = requests.get(f"{url}/v1/documents/{other_parked}/events",
                            headers={"Authorization": f"Bearer {other}"}, timeout=10)
        assert full.status_code == 429 and full.json()["code"] == "too_many_streams"
        # Closing a stream frees its slot (the gateway notices at its next write, an event).
        streams.pop(0).close()
        events.publish(stack.settings(), _tenant_id(stack, key), parked, None, "progress")

        def reopened() -> bool:
            response = requests.get(f"{url}/v1/documents/{parked}/events",
                                    headers={"Authorization": f"Bearer {key}"}, timeout=10, stream=True)
            try:
                return response.status_code == 200
            finally:
                response.close()

        deadline = time.monotonic() + 20
        while not reopened():
            assert time.monotonic() < deadline, "the closed stream's slot was never freed"
            events.publish(stack.settings(), _tenant_id(stack, key), parked, None, "progress")
            time.sleep(0.5)
    finally:
        for sock in streams:
            sock.close()
        stack.stop("gateway-caps", signal.SIGQUIT)


def test_event_stream_content_is_sse(stack: Stack) -> None:
    """The snapshot event parses as JSON (the stream's framing survived the worker change)."""
    key = stack.create_tenant(f"sse-{uuid.uuid4().hex[:8]}")
    parked = _parked_document(stack, _tenant_id(stack, key))
    sock, head = _open_stream(stack.url, key, parked)
    try:
        assert b"text/event-stream" in head
        line = next(x for x in head.split(b"\n") if x.startswith(b"data: "))
        assert json.loads(line[len(b"data: "):])["event"] == "snapshot"
    finally:
        sock.close()
