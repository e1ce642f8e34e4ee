"""Issue 10, item 9: ``aegis upload --wait`` piped (no terminal) prints plain, complete lines.

Before: the summary was rich's table cut to a guessed width: "rejected (du" and no
error column. The gateway runs in a thread on a real port (werkzeug's server, the
app of these unit tests); the document is a duplicate of one already rejected, so
it is final at once and ``--wait`` needs no worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from aegis.persistence.models import Document
from aegis.services.tenants import IssuedKey

ROOT = Path(__file__).resolve().parents[3]
MESSAGE = "The file's contents do not match its name: it claims to be a PDF but is plain text."


@pytest.fixture()
def served(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_upload_wait_piped_prints_every_column_in_full(
    served: str, upload: Callable[..., object], tenant: IssuedKey,
    db: Callable[[], AbstractContextManager[Session]], tmp_path: Path,
) -> None:
    data = b"not really a pdf\n" * 10
    first = upload(data, "a-rather-long-file-name-for-the-table.pdf").get_json()  # type: ignore[attr-defined]
    with db() as session:
        doc = session.get(Document, first["id"])
        doc.status, doc.stage, doc.error_code, doc.error_message = "rejected", None, "type_mismatch", MESSAGE
    path = tmp_path / "a-rather-long-file-name-for-the-table.pdf"
    path.write_bytes(data)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AEGIS_URL": served, "AEGIS_API_KEY": tenant.api_key,
           "COLUMNS": "60"}
    done = subprocess.run([sys.executable, "-m", "aegis.cli", "upload", "--wait", str(path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # not succeeded
    lines = done.stdout.splitlines()
    assert lines[0].split("\t") == ["file", "document id", "status", "error"]
    assert lines[1].split("\t") == [path.name, first["id"], "rejected (duplicate)", f"type_mismatch: {MESSAGE}"]
    assert lines[2] == "1 rejected"
    assert "━" not in done.stderr and "│" not in done.stdout, "no bars or boxes without a terminal"
