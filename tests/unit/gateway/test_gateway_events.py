"""``GET /v1/documents/<id>/events`` in the embedded mode (no Redis: the row is polled)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from aegis.config import Settings
from aegis.persistence.db import session_scope
from aegis.persistence.models import Document
from aegis.pipeline.registry import REGISTRY
from aegis.services.tenants import IssuedKey

Problem = Callable[[TestResponse, int, str], dict[str, Any]]
Upload = Callable[..., TestResponse]


def _events(raw: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[len("data: "):]) for line in raw.decode().splitlines() if line.startswith("data: ")]


def _finish(settings: Settings, document_id: str) -> None:
    with session_scope(settings) as session:
        document = session.get(Document, document_id)
        assert document is not None
        document.status = "succeeded"
        document.stage = None


def test_a_finished_document_streams_its_snapshot_and_ends(
    upload: Upload, auth_client: FlaskClient, settings: Settings
) -> None:
    document_id = upload(b"done already").get_json()["id"]
    _finish(settings, document_id)

    response = auth_client.get(f"/v1/documents/{document_id}/events")
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    [snapshot] = _events(response.get_data())
    assert snapshot["event"] == "snapshot"
    assert snapshot["status"] == "succeeded"
    assert snapshot["document"]["id"] == document_id


def test_a_queued_document_streams_its_snapshot_first(upload: Upload, auth_client: FlaskClient) -> None:
    document_id = upload(b"still waiting").get_json()["id"]
    response = auth_client.get(f"/v1/documents/{document_id}/events", buffered=False)
    try:
        first = next(response.iter_encoded())
    finally:
        response.close()  # the stream would otherwise poll until the document ends
    [snapshot] = _events(first)
    assert (snapshot["event"], snapshot["status"], snapshot["stage"]) == ("snapshot", "queued", REGISTRY.first.name)


def test_the_events_stream_takes_the_key_as_a_query_parameter(
    upload: Upload, client: FlaskClient, tenant: IssuedKey, settings: Settings
) -> None:
    """EventSource cannot send an Authorization header."""
    document_id = upload(b"followed from a browser").get_json()["id"]
    _finish(settings, document_id)
    response = client.get(f"/v1/documents/{document_id}/events?key={tenant.api_key}")
    assert response.status_code == 200
    assert _events(response.get_data())[0]["status"] == "succeeded"


def test_the_events_stream_refuses_a_missing_or_wrong_key(
    upload: Upload, client: FlaskClient, problem: Problem
) -> None:
    document_id = upload(b"private").get_json()["id"]
    problem(client.get(f"/v1/documents/{document_id}/events"), 401, "unauthorized")
    problem(client.get(f"/v1/documents/{document_id}/events?key=aeg_wrong"), 401, "unauthorized")


def test_the_events_of_an_unknown_document_are_404(auth_client: FlaskClient, problem: Problem) -> None:
    problem(auth_client.get("/v1/documents/nope/events"), 404, "not_found")
