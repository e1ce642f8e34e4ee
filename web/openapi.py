"""``GET /openapi.json`` and a readable ``/docs`` page rendered from the same dict.

The docs page is rendered on the server from :func:`aegis.openapi.build_spec`
instead of shipping a JavaScript viewer: no CDN assets, nothing to keep patched,
it works with scripts off, and it cannot disagree with the JSON next to it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from markupsafe import Markup, escape

from aegis.openapi import build_spec
from web.context import settings
from web.ui import secure_page

bp = Blueprint("openapi", __name__)

METHODS = ("get", "post", "put", "patch", "delete")
_CODE = re.compile(r"`([^`]+)`")


@lru_cache(maxsize=4)
def _spec(max_upload_bytes: int) -> dict[str, Any]:
    """Built once per limit: the spec is a pure function of it."""
    return build_spec(max_upload_bytes)


def current_spec() -> dict[str, Any]:
    return _spec(settings().max_upload_bytes)


@bp.get("/openapi.json")
def openapi_json() -> Response:
    response = jsonify(current_spec())
    response.headers["Access-Control-Allow-Origin"] = "*"  # a public description; lets other tools read it
    return response


def inline_code(text: str | None) -> Markup:
    """Escape ``text`` and turn its Markdown `code` spans into ``<code>``."""
    escaped = str(escape(text or ""))
    return Markup(_CODE.sub(r"<code>\1</code>", escaped))


def schema_label(schema: dict[str, Any] | None) -> list[dict[str, str | None]]:
    """A schema as short tokens (``text``, optional link ``href``) for a table cell.

    Only the shapes our spec uses are spelled out; anything else shows as "any",
    which is honest and keeps the page readable.
    """
    if not schema:
        return [{"text": "any", "href": None}]
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return [{"text": name, "href": f"#schema-{name}"}]
    for union in ("anyOf", "oneOf"):
        if union in schema:
            out: list[dict[str, str | None]] = []
            for index, option in enumerate(schema[union]):
                if index:
                    out.append({"text": " or ", "href": None})
                out.extend(schema_label(option))
            return out
    kind = schema.get("type")
    if kind == "array":
        return [{"text": "array of ", "href": None}, *schema_label(schema.get("items"))]
    if isinstance(kind, list):
        text = " or ".join(kind)
    else:
        text = kind or "any"
    if schema.get("format"):
        text += f" ({schema['format']})"
    if "enum" in schema:
        text += ": " + " | ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        text += f" = {schema['const']}"
    return [{"text": text, "href": None}]


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec's operations grouped by tag, in the spec's tag order, for the template."""
    groups: dict[str, list[dict[str, Any]]] = {tag["name"]: [] for tag in spec.get("tags", [])}
    for path, item in spec["paths"].items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            security = op.get("security", spec.get("security", []))
            responses = []
            for status, response in op.get("responses", {}).items():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                content = response.get("content", {})
                responses.append(
                    {
                        "status": status,
                        "description": response.get("description", ""),
                        "content": [(media, schema_label(body.get("schema"))) for media, body in content.items()],
                    }
                )
            body = op.get("requestBody", {}).get("content", {})
            entry = {
                "id": op.get("operationId") or f"{method}-{path}",
                "method": method.upper(),
                "path": path,
                "op": op,
                "parameters": [*shared, *op.get("parameters", [])],
                "auth": sorted({name for requirement in security for name in requirement}),
                "request": [(media, schema_label(value.get("schema"))) for media, value in body.items()],
                "responses": responses,
            }
            groups.setdefault((op.get("tags") or ["other"])[0], []).append(entry)
    descriptions = {tag["name"]: tag.get("description", "") for tag in spec.get("tags", [])}
    return [{"name": n, "description": descriptions.get(n, ""), "operations": ops} for n, ops in groups.items() if ops]


@bp.get("/docs")
def docs() -> Response:
    spec = current_spec()
    html = render_template(
        "docs.html",
        spec=spec,
        groups=operations(spec),
        schemas=spec["components"]["schemas"],
        schemes=spec["components"].get("securitySchemes", {}),
        label=schema_label,
        md=inline_code,
    )
    return secure_page(Response(html, mimetype="text/html"))
