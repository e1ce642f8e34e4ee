"""The OpenAPI 3.1 description of the gateway, as a plain dict.

It lives in ``aegis/`` rather than ``web/`` so it can be built, validated and diffed
without Flask: the unit tests check it with ``openapi-spec-validator`` and the
gateway serves the very same dict at ``/openapi.json`` and renders ``/docs`` from it.
Keeping one source means the docs page can never drift from the machine-readable
spec. Stage names come from the config, statuses and error codes from
:mod:`aegis.vocabulary`, so adding a stage or a code updates the spec too.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from aegis.pipeline.registry import STAGES
from aegis.vocabulary import AUDIT_ACTIONS, ERRORS, KEY_SCOPES, DocumentStatus, ErrorCode, ErrorKind, StageStatus

DOCUMENT_STATUSES: tuple[str, ...] = tuple(DocumentStatus)
STAGE_STATUSES: tuple[str, ...] = tuple(StageStatus)
STAGE_EVENTS: tuple[str, ...] = ("snapshot", "started", "succeeded", "failed", "rejected", "document_succeeded")

# Stable error codes a client may branch on: every code the service can answer with.
ERROR_CODES: tuple[str, ...] = tuple(ERRORS)
# The codes a document or a stage can end with (the gateway's own refusals never reach one).
# quota_exceeded is both: a refused upload, and a document past the daily page quota.
DOCUMENT_ERROR_CODES: tuple[str, ...] = tuple(
    c for c, item in ERRORS.items() if item.kind is not ErrorKind.API or c is ErrorCode.QUOTA_EXCEEDED
)

PROBLEM = "application/problem+json"
JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _response(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.1 spells "or null" as a JSON Schema union, not ``nullable``."""
    return {"anyOf": [schema, {"type": "null"}]}


def _version() -> str:
    try:
        return metadata.version("aegis")
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        return "0.0.0"


def _schemas() -> dict[str, Any]:
    timestamp = {"type": "string", "format": "date-time"}
    return {
        "Problem": {
            "type": "object",
            "description": "An error, as RFC 9457 problem details plus a stable `code`. Show `detail` to people.",
            "required": ["type", "title", "status", "detail", "code"],
            "properties": {
                "type": {"type": "string", "format": "uri", "example": "https://aegis.dev/problems/not_found"},
                "title": {"type": "string", "example": "Not found"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599, "example": 404},
                "detail": {"type": "string", "example": "No such document."},
                "code": {
                    "type": "string",
                    "enum": list(ERROR_CODES),
                    "description": "Stable machine-readable code; the README's table says what each one means.",
                    "example": "not_found",
                },
                "quota": {
                    "type": "string",
                    "enum": ["max_documents_per_day", "max_bytes_per_day", "max_pages_per_day", "max_stored_bytes"],
                    "description": "With `quota_exceeded`: the quota the request would pass.",
                },
                "limit": {"type": "number", "description": "With `quota_exceeded`: the quota's value."},
                "used": {"type": "integer", "description": "With `quota_exceeded`: how much of it is used."},
                "retry_after": {
                    "type": ["integer", "null"],
                    "description": "With `quota_exceeded` and `rate_limited`: seconds until it frees "
                    "(null for `max_stored_bytes`: only deleting documents frees room).",
                },
                "scope": {"type": "string", "description": "With `insufficient_scope`: the key's scope."},
                "needed": {"type": "string", "description": "With `insufficient_scope`: the scope the request needs."},
            },
            "additionalProperties": True,
        },
        "Me": {
            "type": "object",
            "description": "The signed-in key: its tenant and what it may do.",
            "required": ["tenant", "key_id", "scope", "scopes"],
            "properties": {
                "tenant": {"type": "string"},
                "key_id": {"type": "string"},
                "scope": {"type": "string", "enum": list(KEY_SCOPES)},
                "scopes": {
                    "type": "array", "items": {"type": "string", "enum": list(KEY_SCOPES)},
                    "description": "Every scope the key holds (`admin` holds `write`, which holds `read`).",
                },
            },
        },
        "AuditEvent": {
            "type": "object",
            "description": "One recorded action; append-only.",
            "required": ["id", "at", "action", "outcome", "key_id", "document_id", "request_id", "client", "detail"],
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "action": {"type": "string", "enum": list(AUDIT_ACTIONS)},
                "outcome": {"type": "string", "description": "What happened: `accepted`, `deleted`, an error code..."},
                "key_id": _nullable({"type": "string", "description": "The acting key's id (never the key)."}),
                "document_id": _nullable({"type": "string"}),
                "request_id": _nullable({"type": "string"}),
                "client": _nullable({"type": "string", "description": "The client's address."}),
                "detail": _nullable({"type": "object"}),
            },
        },
        "AuditPage": {
            "type": "object",
            "required": ["events", "next_cursor"],
            "properties": {
                "events": {"type": "array", "items": _ref("AuditEvent")},
                "next_cursor": _nullable({"type": "string"}),
            },
        },
        "ErrorDetail": {
            "type": "object",
            "description": "Why a document or a stage did not succeed.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": list(DOCUMENT_ERROR_CODES), "example": "encrypted"},
                "message": {"type": "string", "example": "The PDF is encrypted; upload it with its password."},
            },
        },
        "StageRun": {
            "type": "object",
            "description": "One stage's progress for one document.",
            "required": ["status", "attempts", "started_at", "finished_at", "duration_ms", "error"],
            "properties": {
                "status": {"type": "string", "enum": list(STAGE_STATUSES)},
                "attempts": {"type": "integer", "minimum": 0},
                "started_at": _nullable(timestamp),
                "finished_at": _nullable(timestamp),
                "duration_ms": _nullable({"type": "integer", "minimum": 0}),
                "error": _nullable(_ref("ErrorDetail")),
                "pages_total": {
                    "type": "integer", "minimum": 0,
                    "description": "A stage that fans out by page (ocr): pages it has to read.",
                },
                "pages_done": {"type": "integer", "minimum": 0, "description": "Pages read so far."},
            },
        },
        "Warning": {
            "type": "object",
            "description": "Something a user should know about a succeeded document.",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "ocr_error"},
                "message": {"type": "string"},
                "page": {"type": "integer", "minimum": 1},
                "reason": {"type": ["string", "null"], "example": "ocr_timeout"},
            },
        },
        "Stages": {
            "type": "object",
            "description": "Stage runs keyed by stage name, in pipeline order: " + " → ".join(STAGES) + ".",
            "properties": {stage: _ref("StageRun") for stage in STAGES},
            "additionalProperties": False,
        },
        "Metadata": {
            "type": "object",
            "description": (
                "Normalised keys where the format has them; format-specific detail sits under the format's "
                "name (`pdf`, `email`, ...)."
            ),
            "properties": {
                "pages": {"type": "integer", "minimum": 0},
                "encrypted": {"type": "boolean"},
                "title": {"type": ["string", "null"]},
                "author": {"type": ["string", "null"]},
                "subject": {"type": ["string", "null"]},
                "keywords": {},
                "creator": {"type": ["string", "null"]},
                "producer": {"type": ["string", "null"]},
                "created_at": {"type": ["string", "null"], "description": "ISO 8601"},
                "modified_at": {"type": ["string", "null"], "description": "ISO 8601"},
                "language": {"type": ["string", "null"]},
            },
            "additionalProperties": True,
        },
        "Classification": {
            "type": "object",
            "required": ["label", "score"],
            "properties": {
                "label": {"type": "string", "example": "scientific paper"},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "AI": {
            "type": "object",
            "description": "What the ai stage found.",
            "properties": {
                "summary": {"type": "string"},
                "keywords": {"type": "array", "items": {"type": "string"}},
                "language": {"type": ["string", "null"]},
                "classification": _nullable(_ref("Classification")),
                "usage": {"type": "object", "additionalProperties": {"type": "integer"}},
                "provider": {"type": "string", "example": "local"},
                "model": {"type": "string"},
                "chunks": {"type": "integer", "minimum": 0},
                "vector_store": {"type": "string", "example": "local"},
                "empty_text": {
                    "type": "boolean",
                    "description": "The document had no text to analyse (see its no_text_layer warning): "
                                   "the summary is empty and there is no classification.",
                },
            },
            "additionalProperties": True,
        },
        "Document": {
            "type": "object",
            "required": ["id", "filename", "status", "stage", "stages", "error", "size", "sha256"],
            "properties": {
                "id": {"type": "string"},
                "filename": {"type": "string", "example": "report.pdf"},
                "status": {"type": "string", "enum": list(DOCUMENT_STATUSES)},
                "stage": {
                    "type": ["string", "null"],
                    "description": "The stage the document is at (or ended at).",
                    "examples": list(STAGES),
                },
                "stages": _ref("Stages"),
                "error": _nullable(_ref("ErrorDetail")),
                "mime": {"type": ["string", "null"], "example": "application/pdf"},
                "size": {"type": "integer", "minimum": 0},
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "metadata": _nullable(_ref("Metadata")),
                "ai": _nullable(_ref("AI")),
                "warnings": {"type": "array", "items": _ref("Warning")},
                "created_at": timestamp,
                "updated_at": timestamp,
                "trace_id": {
                    "type": ["string", "null"],
                    "pattern": "^[0-9a-f]{32}$",
                    "description": "The OpenTelemetry trace of the upload (or last reprocess) and every stage "
                                   "it started; null when tracing is off.",
                },
                "duplicate": {
                    "type": "boolean",
                    "description": "Only on upload: true when the tenant already had these exact bytes.",
                },
            },
        },
        "DocumentBatch": {
            "type": "object",
            "description": "The answer to an upload of several files.",
            "required": ["documents"],
            "properties": {"documents": {"type": "array", "items": _ref("Document")}},
        },
        "DocumentList": {
            "type": "object",
            "required": ["documents", "next_cursor"],
            "properties": {
                "documents": {"type": "array", "items": _ref("Document")},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
            },
        },
        "Upload": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {
                    "type": "array",
                    "items": {"type": "string", "format": "binary"},
                    "description": "One or more files, each as a part named `file`.",
                },
                "password": {
                    "type": "string",
                    "description": "Opens an encrypted PDF before it is stored; never stored itself.",
                },
                "callback_url": {
                    "type": "string",
                    "format": "uri",
                    "description": "Called when the document reaches a final status.",
                },
                "ocr": {
                    "type": "string",
                    "enum": ["auto", "off", "always"],
                    "description": (
                        "auto (default): OCR pages without a usable text layer and every image; "
                        "always: every page; off: none."
                    ),
                },
                "ocr_languages": {
                    "type": "string",
                    "pattern": "^[A-Za-z0-9_]+(\\+[A-Za-z0-9_]+)*$",
                    "example": "eng+deu",
                    "description": "Tesseract languages for this upload; each must be installed on the OCR workers.",
                },
            },
        },
        "Page": {
            "type": "object",
            "required": ["number", "text", "ocr"],
            "properties": {
                "number": {"type": "integer", "minimum": 1},
                "text": {"type": "string"},
                "ocr": {"type": "boolean", "description": "True when the text was read by OCR."},
                "ocr_confidence": {
                    "type": ["number", "null"], "minimum": 0, "maximum": 100,
                    "description": "Tesseract's mean word confidence for the page.",
                },
                "ocr_error": {"type": "string", "description": "Why OCR could not read this page."},
            },
        },
        "Chunk": {
            "type": "object",
            "required": ["index", "page_start", "page_end", "text"],
            "properties": {
                "index": {"type": "integer", "minimum": 0},
                "page_start": {"type": "integer", "minimum": 1},
                "page_end": {"type": "integer", "minimum": 1},
                "text": {"type": "string"},
            },
        },
        "Content": {
            "type": "object",
            "required": ["pages", "chunks"],
            "properties": {
                "document_id": {"type": "string"},
                "pages": {"type": "array", "items": _ref("Page")},
                "chunks": {"type": "array", "items": _ref("Chunk")},
            },
        },
        "SearchResult": {
            "type": "object",
            "required": ["document_id", "filename", "page_start", "page_end", "score", "text"],
            "properties": {
                "document_id": {"type": "string"},
                "filename": {"type": "string"},
                "page_start": {"type": "integer", "minimum": 1},
                "page_end": {"type": "integer", "minimum": 1},
                "score": {"type": "number", "description": "Cosine similarity; higher is closer."},
                "text": {"type": "string"},
            },
        },
        "SearchResults": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "query": {"type": "string", "description": "The query as searched (trimmed)."},
                "results": {"type": "array", "items": _ref("SearchResult")},
            },
        },
        "ServerSentEvent": {
            "type": "object",
            "description": "One Server-Sent Event of a document's stream (keep-alive comments are not events).",
            "required": ["data"],
            "properties": {
                "event": {"type": "string", "description": "Always the default, `message`."},
                "id": {"type": "string"},
                "retry": {"type": "integer", "minimum": 0},
                "data": {
                    "type": "string",
                    "contentMediaType": JSON,
                    "contentSchema": _ref("StageEvent"),
                },
            },
        },
        "StageEvent": {
            "type": "object",
            "description": (
                "The JSON in each Server-Sent Event's `data:` line. Events are a convenience: re-read the "
                "document for its state of record."
            ),
            "required": ["document_id", "event"],
            "properties": {
                "document_id": {"type": "string"},
                "stage": {"type": ["string", "null"], "examples": list(STAGES)},
                "event": {
                    "type": "string",
                    "description": "What happened; a stage's new status in the embedded (no Redis) mode.",
                    "examples": list(STAGE_EVENTS),
                },
                "status": {"type": "string", "description": "On `snapshot`: the document's status."},
                "document": {**_ref("Document"), "description": "On `snapshot`: the whole document."},
                "at": timestamp,
            },
            "additionalProperties": True,
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "const": "ok"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "unavailable"]},
                "checks": {
                    "type": "object",
                    "properties": {
                        "database": {"type": "string"}, "broker": {"type": "string"}, "storage": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string"},
                },
            },
        },
    }


def _problem_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}


def _responses() -> dict[str, Any]:
    return {
        "BadRequest": _problem_response("The request is malformed; `detail` says what to change."),
        "Unauthorized": {
            **_problem_response("No API key, or a key that is not valid or has been revoked."),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "example": 'Bearer realm="aegis"'}},
        },
        "NotFound": _problem_response("No such document for this tenant (another tenant's document is also a 404)."),
        "ServerError": _problem_response("Something went wrong on the server; it has been logged."),
        "InsufficientScope": _problem_response(
            "The key's scope does not allow this (`insufficient_scope`): `read` keys may list, get, read "
            "content, follow events and search; `write` keys also upload, reprocess and delete; `admin` keys "
            "also read the audit log."
        ),
        "TooManyRequests": {
            **_problem_response(
                "`rate_limited`: the tenant's `requests_per_second` (shared by every gateway replica) is used "
                "up; `quota_exceeded` (uploads): a daily quota or `max_stored_bytes` would be passed, named in "
                "`quota`; `too_many_streams` (event streams)."
            ),
            "headers": {
                "Retry-After": {
                    "description": "Seconds until the limit frees (absent for `max_stored_bytes`).",
                    "schema": {"type": "integer", "minimum": 1},
                },
                **RATE_HEADERS,
            },
        },
    }


#: On every /v1 answer to a tenant with a request rate limit.
RATE_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {
        "description": "Requests the tenant may make at once (its burst); only for tenants with a rate limit.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left right now; refills at the tenant's `requests_per_second`.",
        "schema": {"type": "integer"},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


_SHARED_ERRORS = {"400": "BadRequest", "404": "NotFound"}


def _with_errors(responses: dict[str, Any], *statuses: str) -> dict[str, Any]:
    """Every /v1 call can fail auth or crash: list those too, so generated clients handle them."""
    out = {}
    for status, response in responses.items():
        # A rate-limited tenant's answers carry X-RateLimit-*.
        out[status] = {**response, "headers": {**response.get("headers", {}), **RATE_HEADERS}}
    for status in statuses:
        out[status] = _response(_SHARED_ERRORS[status])
    out["401"] = _response("Unauthorized")
    out["403"] = _response("InsufficientScope")
    if "429" in out:
        # The endpoint's own 429 (too many streams) and the rate limit share the status.
        out["429"]["description"] += " Or `rate_limited`: the tenant's request rate is used up."
    else:
        out["429"] = _response("TooManyRequests")
    out["500"] = _response("ServerError")
    return out


DOCUMENT_ID = {
    "name": "document_id",
    "in": "path",
    "required": True,
    "description": "The id returned by the upload (a UUID; anything else is a 404).",
    "schema": {"type": "string", "format": "uuid"},
}


def _paths(max_upload_bytes: int | None) -> dict[str, Any]:
    limit = f" of {max_upload_bytes} bytes" if max_upload_bytes else ""
    document = _json(_ref("Document"), "The document.")
    return {
        "/v1/documents": {
            "post": {
                "operationId": "uploadDocuments",
                "tags": ["documents"],
                "summary": "Upload one or more files",
                "description": (
                    "Each file is stored, recorded and sent down the " + " → ".join(STAGES) + " chain. "
                    "One file answers with the document, several with `{\"documents\": [...]}`. "
                    "Bytes the tenant already uploaded are not processed again: the existing document "
                    "comes back with `\"duplicate\": true` (200 when every file was a duplicate)."
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": _ref("Upload"),
                            "encoding": {"file": {"contentType": "application/octet-stream"}},
                        }
                    },
                },
                "responses": _with_errors(
                    {
                        "202": {
                            "description": "Accepted; processing has started.",
                            "headers": {
                                "Location": {
                                    "description": "The (first) document's URL.",
                                    "schema": {"type": "string"},
                                }
                            },
                            "content": {JSON: {"schema": {"oneOf": [_ref("Document"), _ref("DocumentBatch")]}}},
                        },
                        "200": {
                            "description": "Every file was a duplicate of an existing document.",
                            "content": {JSON: {"schema": {"oneOf": [_ref("Document"), _ref("DocumentBatch")]}}},
                        },
                        "408": _problem_response(
                            "The body arrived too slowly (`request_timeout`): it must arrive within "
                            "`AEGIS_BODY_TIMEOUT` seconds plus one second per `AEGIS_BODY_MIN_RATE` bytes."
                        ),
                        "413": _problem_response(f"The upload is larger than the limit{limit}."),
                        "415": _problem_response("The request body is not `multipart/form-data`."),
                        "422": _problem_response("An encrypted PDF could not be opened with the password given."),
                        "503": {
                            **_problem_response(
                                "The blob store cannot be reached (`storage_unavailable`); nothing was kept. "
                                "Send the upload again after `Retry-After` seconds."
                            ),
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                        },
                    },
                    "400",
                ),
            },
            "get": {
                "operationId": "listDocuments",
                "tags": ["documents"],
                "summary": "List documents, newest first",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "description": "Only documents with this status.",
                        "schema": {"type": "string", "enum": list(DOCUMENT_STATUSES)},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "Page size.",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "description": "The `next_cursor` of the previous page.",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": _with_errors({"200": _json(_ref("DocumentList"), "A page of documents.")}, "400"),
            },
        },
        "/v1/documents/{document_id}": {
            "parameters": [DOCUMENT_ID],
            "get": {
                "operationId": "getDocument",
                "tags": ["documents"],
                "summary": "A document's status, stages, metadata and AI results",
                "responses": _with_errors({"200": document}, "404"),
            },
            "delete": {
                "operationId": "deleteDocument",
                "tags": ["documents"],
                "summary": "Delete a document",
                "description": "The stored file, its rows, text and vectors are removed.",
                "responses": _with_errors({"204": {"description": "Deleted."}}, "404"),
            },
        },
        "/v1/documents/{document_id}/content": {
            "parameters": [DOCUMENT_ID],
            "get": {
                "operationId": "getDocumentContent",
                "tags": ["documents"],
                "summary": "The extracted text, page by page, and its search chunks",
                "responses": _with_errors({"200": _json(_ref("Content"), "Pages and chunks.")}, "404"),
            },
        },
        "/v1/documents/{document_id}/searchable.pdf": {
            "parameters": [DOCUMENT_ID],
            "get": {
                "operationId": "getSearchablePdf",
                "tags": ["documents"],
                "summary": "The scan or image as a PDF with OCR's invisible text over each OCR'd page",
                "description": "404 `no_searchable_pdf` when no page of the document was OCR'd.",
                "responses": _with_errors(
                    {
                        "200": {
                            "description": "A PDF: the original pages, text selectable and searchable.",
                            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                        }
                    },
                    "404",
                ),
            },
        },
        "/v1/documents/{document_id}/reprocess": {
            "parameters": [DOCUMENT_ID],
            "post": {
                "operationId": "reprocessDocument",
                "tags": ["documents"],
                "summary": "Run every stage again",
                "responses": _with_errors({"202": _json(_ref("Document"), "Accepted; the chain restarts.")}, "404"),
            },
        },
        "/v1/documents/{document_id}/events": {
            "parameters": [DOCUMENT_ID],
            "get": {
                "operationId": "streamDocumentEvents",
                "tags": ["documents"],
                "summary": "Live stage transitions as Server-Sent Events",
                "description": (
                    "A `text/event-stream`; each `data:` line is a `StageEvent` as JSON. The first event is a "
                    "`snapshot` of the document; the stream ends when the document does. Browsers' EventSource "
                    "cannot send headers, so the key may also be given as the `key` query parameter. "
                    "A lost event loses no state: re-read the document."
                ),
                "security": [{"bearerAuth": []}, {"queryKey": []}],
                "responses": _with_errors(
                    {
                        "200": {
                            "description": "The event stream.",
                            "content": {
                                "text/event-stream": {
                                    # Before OpenAPI 3.2 (itemSchema) a stream's `schema` describes one
                                    # event: its SSE fields, with the JSON in `data` as a StageEvent.
                                    "schema": _ref("ServerSentEvent"),
                                    "example": 'data: {"document_id": "…", "stage": "content", "event": '
                                    '"started"}\n\n',
                                }
                            },
                        },
                        "429": {
                            **_problem_response(
                                "Too many open streams (`too_many_streams`): per tenant "
                                "(`AEGIS_MAX_STREAMS_PER_TENANT`) or per gateway process "
                                "(`AEGIS_MAX_STREAMS_PER_PROCESS`)."
                            ),
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds to wait before opening another stream.",
                                    "schema": {"type": "integer", "minimum": 1},
                                }
                            },
                        },
                    },
                    "404",
                ),
            },
        },
        "/v1/search": {
            "get": {
                "operationId": "search",
                "tags": ["search"],
                "summary": "Semantic search over the tenant's documents",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "description": "What to look for, in words.",
                        "schema": {"type": "string", "minLength": 1, "maxLength": 2000},
                    },
                    {
                        "name": "k",
                        "in": "query",
                        "description": "How many results.",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                    },
                    {
                        "name": "document_id",
                        "in": "query",
                        "description": "Search within one document only (a document id; else 400).",
                        "schema": {"type": "string", "format": "uuid"},
                    },
                ],
                "responses": _with_errors(
                    {
                        "200": _json(_ref("SearchResults"), "Best matches first."),
                        "503": _problem_response("The embedding provider is unavailable; try again later."),
                    },
                    "400",
                ),
            },
        },
        "/v1/me": {
            "get": {
                "operationId": "getMe",
                "tags": ["account"],
                "summary": "The signed-in key's tenant and scope",
                "responses": _with_errors({"200": _json(_ref("Me"), "The key.")}),
            },
        },
        "/v1/audit": {
            "get": {
                "operationId": "listAuditEvents",
                "tags": ["account"],
                "summary": "The tenant's audit log, oldest first (admin keys only)",
                "description": (
                    "Uploads, deletes, reprocesses, searches, refused requests, key and limit changes and "
                    "retention deletions of the key's own tenant; never another tenant's."
                ),
                "parameters": [
                    {"name": "since", "in": "query", "description": "Only events at or after this time (ISO 8601).",
                     "schema": {"type": "string", "format": "date-time"}},
                    {"name": "action", "in": "query", "description": "Only this action.",
                     "schema": {"type": "string", "enum": list(AUDIT_ACTIONS)}},
                    {"name": "document_id", "in": "query", "description": "Only events about this document.",
                     "schema": {"type": "string", "format": "uuid"}},
                    {"name": "limit", "in": "query", "description": "Page size.",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}},
                    {"name": "cursor", "in": "query", "description": "The `next_cursor` of the previous page.",
                     "schema": {"type": "string"}},
                ],
                "responses": _with_errors({"200": _json(_ref("AuditPage"), "A page of events.")}, "400"),
            },
        },
        "/health": {
            "get": {
                "operationId": "health",
                "tags": ["operations"],
                "summary": "Liveness: the process serves requests",
                "security": [],
                "responses": {"200": _json(_ref("Health"), "Alive.")},
            }
        },
        "/ready": {
            "get": {
                "operationId": "ready",
                "tags": ["operations"],
                "summary": "Readiness: the database, the broker and the blob store answer",
                "security": [],
                "responses": {
                    "200": _json(_ref("Readiness"), "Ready for traffic."),
                    "503": _json(_ref("Readiness"), "A dependency is down; stop routing traffic here."),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["operations"],
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["operations"],
                "summary": "This description",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            }
        },
    }


def build_spec(max_upload_bytes: int | None = None) -> dict[str, Any]:
    """The whole OpenAPI document. ``max_upload_bytes`` only makes the 413 text concrete."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Aegis",
            "version": _version(),
            "summary": "Validate, parse and enrich uploaded documents.",
            "description": (
                "Upload files; each goes through " + " → ".join(STAGES) + " on its own worker queue and "
                "becomes searchable. Every `/v1` call needs `Authorization: Bearer <api key>`; errors are "
                "`application/problem+json` with a stable `code` and a `detail` to show to people."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": [
            {"name": "documents", "description": "Upload, follow, read, reprocess and delete documents."},
            {"name": "search", "description": "Find passages across documents."},
            {"name": "operations", "description": "Probes, metrics and this description."},
        ],
        "security": [{"bearerAuth": []}],
        "paths": _paths(max_upload_bytes),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key from `aegis tenant create` or `aegis key create`.",
                },
                "queryKey": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "key",
                    "description": "The same API key, for the event stream only (EventSource sends no headers).",
                },
            },
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }
