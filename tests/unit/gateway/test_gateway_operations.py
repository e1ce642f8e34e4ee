"""Probes, metrics, the OpenAPI document and the browser page: no key needed."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient


def test_health_answers_while_the_process_serves(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_checks_the_database_the_embedded_broker_and_storage(client: FlaskClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok", "storage": "ok"}}


def test_ready_is_503_when_the_database_cannot_be_opened(make_app: Callable[..., Flask]) -> None:
    app = make_app(AEGIS_DATABASE_URL="sqlite:////nonexistent-folder/aegis.db")
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("error")
    assert body["checks"]["broker"] == "ok"


def test_openapi_describes_every_v1_route_the_app_serves(app: Flask, client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    spec = response.get_json()
    served = {
        (rule.rule.replace("<", "{").replace(">", "}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1")
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    described = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    assert served <= described


def test_openapi_states_this_servers_upload_limit(make_app: Callable[..., Flask]) -> None:
    spec = make_app(AEGIS_MAX_UPLOAD_BYTES="4242").test_client().get("/openapi.json").get_json()
    assert "4242 bytes" in spec["paths"]["/v1/documents"]["post"]["responses"]["413"]["description"]


def test_metrics_count_requests_by_route_pattern(client: FlaskClient) -> None:
    client.get("/v1/documents/some-id")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert 'endpoint="/v1/documents/<document_id>"' in text
    assert "some-id" not in text
    assert "aegis_documents" in text


def test_the_browser_page_and_the_docs_page_are_served_with_a_strict_csp(client: FlaskClient) -> None:
    for path in ("/", "/docs"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
