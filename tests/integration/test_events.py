"""Server-Sent Events: a client sees each stage start and end, then the stream closes."""

from __future__ import annotations

import json
import threading

import pytest
import requests

from tests.harness import CORPUS, ApiClient, Stack

pytestmark = pytest.mark.integration


def _read_events(url: str, headers: dict[str, str], out: list[dict], ready: threading.Event) -> None:
    with requests.get(url, headers=headers, stream=True, timeout=120) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line and line.startswith("data: "):
                out.append(json.loads(line[len("data: "):]))
                ready.set()


def test_events_stream_every_stage_transition_and_ends_with_the_document(api: ApiClient, stack: Stack) -> None:
    doc_id = api.upload(CORPUS / "pdf" / "DA-1p.pdf").json()["id"]
    events: list[dict] = []
    ready = threading.Event()
    reader = threading.Thread(
        target=_read_events,
        args=(f"{stack.url}/v1/documents/{doc_id}/events", dict(api.session.headers), events, ready),
    )
    reader.start()
    reader.join(120)
    assert not reader.is_alive(), "the stream did not end with the document"
    assert events[0]["event"] == "snapshot"
    assert events[-1]["event"] in ("document_succeeded", "snapshot")
    final = api.document(doc_id)
    assert final["status"] == "succeeded"
    seen = [(e["stage"], e["event"]) for e in events[1:]]
    if events[0]["status"] == "queued":  # connected before any stage ran: every transition was streamed
        for stage in ("validate", "metadata", "content", "ai"):
            assert (stage, "succeeded") in seen, seen


def test_events_accept_the_key_as_a_query_parameter_and_refuse_other_tenants(api: ApiClient, stack: Stack) -> None:
    doc_id = api.upload(CORPUS / "pdf" / "inline-image.pdf").json()["id"]
    api.wait(doc_id)
    key = api.session.headers["Authorization"].split(" ", 1)[1]
    response = requests.get(f"{stack.url}/v1/documents/{doc_id}/events", params={"key": key}, timeout=30)
    assert response.status_code == 200
    assert '"event": "snapshot"' in response.text
    other = stack.create_tenant("tenant-events")
    response = requests.get(f"{stack.url}/v1/documents/{doc_id}/events", params={"key": other}, timeout=30)
    assert response.status_code == 404
    assert requests.get(f"{stack.url}/v1/documents/{doc_id}?key={key}", timeout=30).status_code == 401
