"""Webhooks: a signed POST when a document ends, retried until the receiver accepts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from aegis.services import webhooks
from tests.harness import CORPUS, ApiClient, Stack, wait_for
from tests.integration.conftest import WEBHOOK_SECRET

pytestmark = pytest.mark.integration


class Receiver:
    """Answers 500 to the first delivery, 204 afterwards; keeps what it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.calls) == 1 else 204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_signed_webhook_reaches_the_callback_after_a_failed_first_attempt(api: ApiClient) -> None:
    receiver = Receiver()
    try:
        response = api.upload(CORPUS / "pdf" / "imagemagick-lzw.pdf", callback_url=receiver.url)
        doc = api.wait(response.json()["id"])
        wait_for(lambda: len(receiver.calls) >= 2, 60, message="webhook retry")
        for headers, body in receiver.calls:
            assert webhooks.verify(WEBHOOK_SECRET, body, headers[webhooks.SIGNATURE_HEADER])
            assert not webhooks.verify("wrong-secret", body, headers[webhooks.SIGNATURE_HEADER])
        import json

        sent = json.loads(receiver.calls[-1][1])
        assert sent["event"] == "document.ended"
        assert sent["document"]["id"] == doc["id"]
        assert sent["document"]["status"] == doc["status"]
    finally:
        receiver.close()


def test_a_callback_url_that_is_not_http_is_refused_at_upload(api: ApiClient) -> None:
    response = api.upload_bytes("a.txt", b"hello there", callback_url="file:///etc/passwd")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_callback_url"


def test_a_tenant_callback_set_with_the_cli_receives_the_webhook(stack: Stack) -> None:
    import subprocess
    import sys

    receiver = Receiver()
    receiver.calls.append(({}, b""))  # answer 204 from the first real delivery on
    try:
        name = "tenant-with-callback"
        api = ApiClient(stack.url, stack.create_tenant(name))
        done = subprocess.run([sys.executable, "-m", "aegis.cli", "tenant", "set-callback", name, receiver.url],
                              env=stack.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        doc = api.wait(api.upload_bytes("hello.txt", b"hello from the tenant callback test").json()["id"])
        wait_for(lambda: len(receiver.calls) >= 2, 60, message="webhook to the tenant's URL")
        headers, body = receiver.calls[1]
        assert webhooks.verify(WEBHOOK_SECRET, body, headers[webhooks.SIGNATURE_HEADER])
        assert doc["id"] in body.decode()
    finally:
        receiver.close()
