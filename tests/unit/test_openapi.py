"""The OpenAPI description: valid, complete against the routes really served, and the
same document behind ``/openapi.json`` and ``/docs``.

The app is built with its real factory on throwaway settings (SQLite in a temp dir,
the embedded broker): no request here touches the database or the broker, so no
services are needed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from aegis.config import load_settings
from aegis.openapi import DOCUMENT_STATUSES, build_spec
from aegis.pipeline.registry import STAGES

openapi_spec_validator = pytest.importorskip("openapi_spec_validator")

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
# HTML pages and static files are for people, not API clients.
NOT_API = {"/", "/docs", "/static/{filename}"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    from web import create_app

    data_dir = tmp_path_factory.mktemp("aegis-openapi")
    app = create_app(load_settings({"AEGIS_DATA_DIR": str(data_dir), "AEGIS_MAX_UPLOAD_BYTES": "12345"}))
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _served(app: Flask) -> dict[str, set[str]]:
    """Each served path in OpenAPI spelling (``{name}``) with its methods."""
    out: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        out.setdefault(path, set()).update(m.lower() for m in rule.methods or () if m.lower() in HTTP_METHODS)
    return out


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


def test_spec_is_a_valid_openapi_3_1_document() -> None:
    spec = build_spec(100 * 1024 * 1024)
    openapi_spec_validator.validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_route_the_gateway_serves_is_documented_with_its_methods(app: Flask) -> None:
    spec = build_spec()
    missing = []
    for path, methods in _served(app).items():
        if path in NOT_API:
            continue
        documented = {m for m in spec["paths"].get(path, {}) if m in HTTP_METHODS}
        missing.extend(f"{m.upper()} {path}" for m in sorted(methods - documented))
    assert not missing, f"served but not in the spec: {missing}"


def test_the_endpoints_of_the_issue_are_all_described() -> None:
    paths = build_spec()["paths"]
    expected = {
        ("/v1/documents", "post"), ("/v1/documents", "get"), ("/v1/documents/{document_id}", "get"),
        ("/v1/documents/{document_id}", "delete"), ("/v1/documents/{document_id}/content", "get"),
        ("/v1/documents/{document_id}/reprocess", "post"), ("/v1/documents/{document_id}/events", "get"),
        ("/v1/search", "get"), ("/health", "get"), ("/ready", "get"), ("/metrics", "get"),
        ("/openapi.json", "get"),
    }
    assert {(p, m) for p in paths for m in paths[p] if m in HTTP_METHODS} >= expected


def test_every_v1_operation_needs_a_bearer_key_and_documents_its_problem_errors() -> None:
    spec = build_spec()
    bearer = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    for path, method, op in _operations(spec):
        if not path.startswith("/v1/"):
            assert op.get("security") == [], f"{method} {path} is a public probe and must say so"
            continue
        security = op.get("security", spec["security"])
        assert {"bearerAuth": []} in security, f"{method} {path}"
        unauthorized = op["responses"]["401"]
        name = unauthorized["$ref"].rsplit("/", 1)[-1]
        content = spec["components"]["responses"][name]["content"]
        assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_problem_schema_carries_the_fields_clients_rely_on() -> None:
    problem = build_spec()["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}


def test_statuses_and_stages_follow_the_modules_that_define_them() -> None:
    from aegis.services.documents import STATUSES

    schemas = build_spec()["components"]["schemas"]
    assert tuple(schemas["Document"]["properties"]["status"]["enum"]) == STATUSES == DOCUMENT_STATUSES
    assert tuple(schemas["Stages"]["properties"]) == STAGES


def test_the_upload_limit_appears_in_the_413_description() -> None:
    op = build_spec(4242)["paths"]["/v1/documents"]["post"]
    assert "4242 bytes" in op["responses"]["413"]["description"]


def test_openapi_json_serves_the_spec_for_the_configured_limit(client: FlaskClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == build_spec(12345)


def test_openapi_json_needs_no_key(client: FlaskClient) -> None:
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/v1/documents").status_code == 401  # while the API itself does


def test_docs_page_shows_every_operation_and_schema(client: FlaskClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    spec = build_spec()
    for path, method, op in _operations(spec):
        assert f'id="op-{op["operationId"]}"' in html, f"{method} {path}"
        assert f"<code>{path}</code>" in html
    for name in spec["components"]["schemas"]:
        assert f'id="schema-{name}"' in html, name
    # Every in-page link points at something that exists.
    anchors = set(re.findall(r'id="([^"]+)"', html))
    targets = set(re.findall(r'href="#([^"]+)"', html))
    assert targets <= anchors, targets - anchors


def test_docs_page_loads_nothing_from_other_origins(client: FlaskClient) -> None:
    response = client.get("/docs")
    html = response.get_data(as_text=True)
    assert not re.findall(r'(?:src|href)="(?:https?:)?//', html)
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_docs_page_escapes_text_from_the_spec(app: Flask) -> None:  # app: web is importable
    from web.openapi import inline_code

    assert str(inline_code("use `<b>` here")) == "use <code>&lt;b&gt;</code> here"


def test_building_the_spec_imports_neither_flask_nor_the_database_layer() -> None:
    code = (
        "import sys; from aegis.openapi import build_spec; build_spec(); "
        "print(sorted(m for m in ('flask', 'sqlalchemy', 'celery') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_tenant_limits_scopes_and_the_audit_log_are_documented() -> None:
    spec = build_spec()
    assert {"/v1/me", "/v1/audit"} <= set(spec["paths"])
    for path, method, op in _operations(spec):
        if not path.startswith("/v1/"):
            continue
        responses = op["responses"]
        assert responses["403"] == {"$ref": "#/components/responses/InsufficientScope"}, (path, method)
        assert "429" in responses, (path, method)
        ok = next(r for s, r in responses.items() if s.startswith("2"))
        assert {"X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(ok["headers"]), (path, method)
    limited = spec["components"]["responses"]["TooManyRequests"]
    assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(limited["headers"])
    for code in ("rate_limited", "quota_exceeded"):
        assert f"`{code}`" in limited["description"]
    codes = spec["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert {"quota_exceeded", "rate_limited", "insufficient_scope"} <= set(codes)
    assert "quota" in spec["components"]["schemas"]["Problem"]["properties"]
