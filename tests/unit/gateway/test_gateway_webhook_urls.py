"""Callback URLs that used to crash the check (500s, CLI tracebacks), and DNS rebinding.

The check parses hostile URLs without raising anything but ``WebhookError``, and
delivery connects to the address the check approved, not to whatever a second
DNS answer says.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aegis.config import load_settings
from aegis.services import webhooks

SETTINGS = load_settings({"AEGIS_WEBHOOK_SECRET": "s3cret"})

HOSTILE = [
    "http://a..b.com/",
    "http://.com/",
    f"http://{'a' * 64}.example.com/",
    "http://[::1/",
    "http://ex\udcffample.com/",  # bytes that were not UTF-8, as the shell hands them over
    "http://ex\ufffdample.com/",  # the same after a lenient UTF-8 decode (form fields)
    "http://exa\x00mple.com/",
    "http://example.com:99999/",
    "http://-bad-.example.com/",
]


@pytest.mark.parametrize("url", HOSTILE)
def test_malformed_callback_urls_are_invalid_not_a_crash(url: str) -> None:
    with pytest.raises(webhooks.WebhookError) as err:
        webhooks.check_url(url, SETTINGS)
    assert err.value.code == "invalid_callback_url"


@pytest.mark.parametrize("url", HOSTILE[:4])
def test_the_gateway_answers_400_for_malformed_callback_urls(url: str, make_app: Any) -> None:
    from aegis.services.tenants import create_tenant
    from web import context

    app = make_app(AEGIS_WEBHOOK_SECRET="s3cret")
    with app.app_context():
        from aegis.persistence.db import session_scope

        with session_scope(context.settings()) as session:
            key = create_tenant(session, "acme").api_key
    client = app.test_client()
    response = client.post(
        "/v1/documents", headers={"Authorization": f"Bearer {key}"},
        data={"file": (__import__("io").BytesIO(b"hello"), "a.txt"), "callback_url": url},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "invalid_callback_url"


def test_set_callback_prints_one_line_for_a_malformed_url(tmp_path: Path, migrated_template: Path) -> None:
    import shutil

    from aegis.cli import main
    from aegis.persistence.db import dispose_engines, session_scope
    from aegis.services.tenants import create_tenant

    shutil.copyfile(migrated_template, tmp_path / "aegis.db")
    env = {"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_WEBHOOK_SECRET": "s3cret"}
    with session_scope(load_settings(env)) as session:
        create_tenant(session, "acme")
    try:
        for url in ("http://a..b.com/", "http://[::1/"):
            done = CliRunner().invoke(main, ["tenant", "set-callback", "acme", url], env=env)
            assert done.exit_code == 1, done.output
            assert done.exception is None or isinstance(done.exception, SystemExit)
            lines = [line for line in done.output.splitlines() if line.strip()]
            assert len(lines) == 1 and "Traceback" not in done.output, done.output
            assert "callback" in lines[0].lower()
    finally:
        dispose_engines()


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.calls.append(self.headers.get("Host"))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def _server(address: str, port: int) -> HTTPServer:
    server = HTTPServer((address, port), _Recorder)
    server.calls = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def two_servers() -> Iterator[tuple[HTTPServer, HTTPServer, int]]:
    """One "public" server on 127.0.0.2 and one "private" on 127.0.0.1, on the same port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        port = probe.getsockname()[1]
    public, private = _server("127.0.0.2", port), _server("127.0.0.1", port)
    yield public, private, port
    for server in (public, private):
        server.shutdown()
        server.server_close()


def test_delivery_connects_to_the_checked_address_even_if_dns_changes(
    monkeypatch: pytest.MonkeyPatch, two_servers: tuple[HTTPServer, HTTPServer, int]
) -> None:
    public, private, port = two_servers
    answers = iter(["127.0.0.2"] + ["127.0.0.1"] * 10)  # the check sees a public address, then it rebinds
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.example.test":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    # Treat 127.0.0.2 as the "public" address; everything else keeps the real rule.
    real_is_public = webhooks._is_public
    monkeypatch.setattr(
        webhooks, "_is_public", lambda a: a == ipaddress.ip_address("127.0.0.2") or real_is_public(a)
    )
    status = webhooks.deliver(f"http://hooks.example.test:{port}/hook", b"{}", SETTINGS)
    assert status == 204
    assert public.calls == [f"hooks.example.test:{port}"]  # type: ignore[attr-defined]
    assert private.calls == []  # type: ignore[attr-defined]
