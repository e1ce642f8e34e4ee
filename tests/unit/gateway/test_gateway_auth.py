"""API-key authentication as every ``/v1`` endpoint applies it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from aegis.config import Settings
from aegis.persistence.db import session_scope
from aegis.services.tenants import IssuedKey, revoke_key

Problem = Callable[[TestResponse, int, str], dict[str, Any]]

V1_CALLS = [
    ("get", "/v1/documents"),
    ("post", "/v1/documents"),
    ("get", "/v1/documents/some-id"),
    ("delete", "/v1/documents/some-id"),
    ("get", "/v1/documents/some-id/content"),
    ("post", "/v1/documents/some-id/reprocess"),
    ("get", "/v1/documents/some-id/events"),
    ("get", "/v1/search?q=anything"),
]


@pytest.mark.parametrize(("method", "path"), V1_CALLS)
def test_every_v1_endpoint_refuses_a_request_without_a_key(
    client: FlaskClient, problem: Problem, method: str, path: str
) -> None:
    response = getattr(client, method)(path)
    body = problem(response, 401, "unauthorized")
    assert "Bearer" in body["detail"]
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="aegis"'


@pytest.mark.parametrize(
    "header",
    ["Bearer aeg_not-a-real-key", "Bearer not-even-our-prefix", "Basic dXNlcjpwYXNz", "Bearer ", "aeg_no-scheme"],
)
def test_an_unknown_key_or_another_scheme_is_unauthorized(client: FlaskClient, problem: Problem, header: str) -> None:
    problem(client.get("/v1/documents", headers={"Authorization": header}), 401, "unauthorized")


def test_the_scheme_is_case_insensitive(client: FlaskClient, tenant: IssuedKey) -> None:
    response = client.get("/v1/documents", headers={"Authorization": f"bearer {tenant.api_key}"})
    assert response.status_code == 200


def test_a_revoked_key_stops_working(
    auth_client: FlaskClient, settings: Settings, tenant: IssuedKey, problem: Problem
) -> None:
    assert auth_client.get("/v1/documents").status_code == 200
    with session_scope(settings) as session:
        revoke_key(session, tenant.key_id)
    problem(auth_client.get("/v1/documents"), 401, "unauthorized")


def test_the_key_in_the_query_string_is_refused_outside_the_events_stream(
    client: FlaskClient, tenant: IssuedKey, problem: Problem
) -> None:
    """Only EventSource needs ``?key=``; elsewhere a key in a URL would end up in access logs."""
    problem(client.get(f"/v1/documents?key={tenant.api_key}"), 401, "unauthorized")
