"""Every status and error code Aegis speaks, declared once.

Clients switch on these strings, the database stores them and the docs explain
them, so they must not drift apart: ``DocumentError``, the gateway's
problem+json, the OpenAPI spec and the README's table are all built from (or
checked against) this module, and a unit test fails if the code raises a code
that is not declared here. The enums are ``StrEnum`` so they compare equal to
the plain strings already in the database and in JSON.

Pure Python on purpose: the OpenAPI spec is built from it without Flask, Celery
or SQLAlchemy being imported.

Run ``python -m aegis.vocabulary`` to print the README's error-code table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DocumentStatus(StrEnum):
    """Where a document is in its life (``documents.status``)."""

    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # we could not finish
    REJECTED = "rejected"  # the file is unacceptable


# A document in one of these may still change; the others are final.
ACTIVE_STATUSES: tuple[DocumentStatus, ...] = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
TERMINAL_STATUSES: tuple[DocumentStatus, ...] = (
    DocumentStatus.SUCCEEDED,
    DocumentStatus.FAILED,
    DocumentStatus.REJECTED,
)


#: What an API key may do, each scope holding the ones before it (aegis/services/tenants.py).
KEY_SCOPES: tuple[str, ...] = ("read", "write", "admin")

#: The actions the audit log records (aegis/services/audit.py).
AUDIT_ACTIONS: tuple[str, ...] = (
    "upload", "delete", "reprocess", "search", "key.create", "key.revoke", "limits.change",
    "retention.delete", "auth.denied",
)


class StageStatus(StrEnum):
    """One stage's progress for one document (``stage_runs.status``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # an earlier stage ended the document


class ErrorKind(StrEnum):
    """What an error means for the document or the request, and so what to do about it."""

    REJECTED = "rejected"  # the file is at fault: the document ends `rejected`, retrying cannot help
    FAILED = "failed"  # we could not finish: the document ends `failed`; reprocess may help later
    TRANSIENT = "transient"  # retried with backoff; the document fails only when attempts run out
    API = "api"  # a request to the gateway was refused; no document changes
    WARNING = "warning"  # recorded on a page and in the document's warnings; the document still succeeds


class ErrorCode(StrEnum):
    """Stable codes clients may switch on. Add one here, with its ``ERRORS`` entry, before raising it."""

    # The file is at fault.
    EMPTY_FILE = "empty_file"
    TOO_LARGE = "too_large"
    TOO_MANY_PAGES = "too_many_pages"
    UNSUPPORTED_FORMAT = "unsupported_format"
    TYPE_MISMATCH = "type_mismatch"
    ENCRYPTED = "encrypted"
    WRONG_PASSWORD = "wrong_password"
    MALFORMED = "malformed"
    ZIP_BOMB = "zip_bomb"
    UNSAFE_ARCHIVE = "unsafe_archive"
    XML_ENTITIES = "xml_entities"
    NESTING_TOO_DEEP = "nesting_too_deep"
    TOO_COMPLEX = "too_complex"
    # We could not finish.
    TIMEOUT = "timeout"
    WORKER_LOST = "worker_lost"
    BLOB_MISSING = "blob_missing"
    INTERNAL_ERROR = "internal_error"
    OCR_FAILED = "ocr_failed"
    OCR_ENGINE_MISSING = "ocr_engine_missing"
    OCR_LANGUAGE_MISSING = "ocr_language_missing"
    # A page OCR could not read (the document goes on without it).
    OCR_ERROR = "ocr_error"
    OCR_TIMEOUT = "ocr_timeout"
    OCR_PAGE_UNREADABLE = "ocr_page_unreadable"
    OCR_PAGE_TOO_LARGE = "ocr_page_too_large"
    OCR_PAGE_MISSING = "ocr_page_missing"
    OCR_ENGINE_CRASH = "ocr_engine_crash"
    # Pages with no text that OCR did not read (OCR off, or nothing it could apply to).
    NO_TEXT_LAYER = "no_text_layer"
    # The AI layer: permanent failures.
    AI_ERROR = "ai_error"
    AI_CONFIG = "ai_config"
    AI_AUTH = "ai_auth"
    AI_QUOTA_EXCEEDED = "ai_quota_exceeded"
    AI_MODEL_NOT_FOUND = "ai_model_not_found"
    AI_REQUEST_REJECTED = "ai_request_rejected"
    AI_DOCUMENT_TOO_LONG = "ai_document_too_long"
    AI_REFUSED = "ai_refused"
    AI_MALFORMED_OUTPUT = "ai_malformed_output"
    TOKEN_BUDGET_EXCEEDED = "token_budget_exceeded"
    VECTOR_STORE_CONFIG = "vector_store_config"
    VECTOR_STORE_AUTH = "vector_store_auth"
    VECTOR_STORE_REJECTED = "vector_store_rejected"
    VECTOR_DIMENSION_MISMATCH = "vector_dimension_mismatch"
    TENANT_MISMATCH = "tenant_mismatch"
    # Worth retrying.
    TRANSIENT_ERROR = "transient_error"
    AI_UNAVAILABLE = "ai_unavailable"
    AI_TIMEOUT = "ai_timeout"
    AI_RATE_LIMITED = "ai_rate_limited"
    AI_BAD_REPLY = "ai_bad_reply"
    VECTOR_STORE_UNAVAILABLE = "vector_store_unavailable"
    # The gateway refused a request.
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    FILE_TOO_LARGE = "file_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_MANY_REQUESTS = "too_many_requests"
    HTTP_ERROR = "http_error"
    NO_FILE = "no_file"
    INVALID_STATUS = "invalid_status"
    INVALID_LIMIT = "invalid_limit"
    INVALID_CURSOR = "invalid_cursor"
    MISSING_QUERY = "missing_query"
    INVALID_K = "invalid_k"
    WEBHOOKS_DISABLED = "webhooks_disabled"
    INVALID_CALLBACK_URL = "invalid_callback_url"
    PRIVATE_CALLBACK_URL = "private_callback_url"
    INVALID_OCR_OPTION = "invalid_ocr_option"
    INVALID_OCR_LANGUAGES = "invalid_ocr_languages"
    NO_SEARCHABLE_PDF = "no_searchable_pdf"
    INVALID_DOCUMENT_ID = "invalid_document_id"
    REQUEST_TIMEOUT = "request_timeout"
    URI_TOO_LONG = "uri_too_long"
    HEADERS_TOO_LARGE = "headers_too_large"
    TOO_MANY_STREAMS = "too_many_streams"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    QUOTA_EXCEEDED = "quota_exceeded"
    RATE_LIMITED = "rate_limited"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    DATABASE_UNAVAILABLE = "database_unavailable"


@dataclass(frozen=True)
class ErrorInfo:
    """What a code means: the HTTP status when the gateway answers with it, its kind, and
    the sentence people see when the raise site has nothing more specific to say."""

    code: ErrorCode
    http_status: int | None
    kind: ErrorKind
    message: str


# A rejected file surfacing at upload (an encrypted PDF with a bad password) is a 422.
_FILE = 422
_E = ErrorCode
_K = ErrorKind

_DECLARED: tuple[tuple[ErrorCode, int | None, ErrorKind, str], ...] = (
    (_E.EMPTY_FILE, _FILE, _K.REJECTED, "The file is empty."),
    (_E.TOO_LARGE, _FILE, _K.REJECTED, "The file is larger than the allowed size."),
    (_E.TOO_MANY_PAGES, _FILE, _K.REJECTED, "The document has more pages than we accept."),
    (_E.UNSUPPORTED_FORMAT, _FILE, _K.REJECTED, "This kind of file is not supported."),
    (_E.TYPE_MISMATCH, _FILE, _K.REJECTED, "The file's contents do not match its name."),
    (_E.ENCRYPTED, _FILE, _K.REJECTED, "The file is encrypted and needs a password."),
    (_E.WRONG_PASSWORD, _FILE, _K.REJECTED, "The password does not open this file."),
    (_E.MALFORMED, _FILE, _K.REJECTED, "The file is damaged or malformed and cannot be read."),
    (_E.ZIP_BOMB, _FILE, _K.REJECTED, "The file expands to far more data than allowed."),
    (_E.UNSAFE_ARCHIVE, _FILE, _K.REJECTED, "The archive contains an entry with an unsafe path name."),
    (_E.XML_ENTITIES, _FILE, _K.REJECTED, "The document declares XML entities or external references; we refuse them."),
    (_E.NESTING_TOO_DEEP, _FILE, _K.REJECTED, "The file nests its content too deeply to be read safely."),
    (_E.TOO_COMPLEX, _FILE, _K.REJECTED, "The file needs more memory than a worker may use."),
    (_E.TIMEOUT, None, _K.FAILED, "A stage took longer than its time limit and was stopped."),
    (_E.WORKER_LOST, None, _K.FAILED, "A stage was interrupted too many times (worker crash or lost connection)."),
    (_E.BLOB_MISSING, None, _K.FAILED, "The uploaded file is no longer in storage."),
    (_E.INTERNAL_ERROR, 500, _K.FAILED, "Something went wrong on our side; it has been logged."),
    (_E.OCR_FAILED, None, _K.FAILED, "OCR could not read any of the document's scanned pages."),
    (_E.OCR_ENGINE_MISSING, None, _K.FAILED, "Tesseract is not installed on the OCR workers."),
    (_E.OCR_LANGUAGE_MISSING, None, _K.FAILED, "An OCR language pack is not installed on the OCR workers."),
    (_E.OCR_ERROR, None, _K.WARNING, "A page could not be read by OCR; the rest of the document was."),
    (_E.OCR_TIMEOUT, None, _K.WARNING, "Reading a page took longer than OCR allows."),
    (_E.OCR_PAGE_UNREADABLE, None, _K.WARNING, "A page could not be rendered or recognised."),
    (_E.OCR_PAGE_TOO_LARGE, None, _K.WARNING, "A page needs more memory to render than we allow."),
    (_E.OCR_PAGE_MISSING, None, _K.WARNING, "A page planned for OCR is not in the file."),
    (_E.OCR_ENGINE_CRASH, None, _K.WARNING, "Tesseract crashed on a page."),
    (_E.NO_TEXT_LAYER, None, _K.WARNING,
     "Pages have no text layer and were not read by OCR, so their text is empty (a scan with OCR off?)."),
    (_E.AI_ERROR, None, _K.FAILED, "The AI provider failed in a way retrying will not fix."),
    (_E.AI_CONFIG, None, _K.FAILED, "The AI provider is not configured correctly on the server."),
    (_E.AI_AUTH, None, _K.FAILED, "The AI provider refused our credentials."),
    (_E.AI_QUOTA_EXCEEDED, None, _K.FAILED, "The AI provider account has no quota left."),
    (_E.AI_MODEL_NOT_FOUND, None, _K.FAILED, "The AI provider does not know the configured model."),
    (_E.AI_REQUEST_REJECTED, None, _K.FAILED, "The AI provider rejected the request."),
    (_E.AI_DOCUMENT_TOO_LONG, None, _K.FAILED, "The document is too long to summarise in the model's context."),
    (_E.AI_REFUSED, None, _K.FAILED, "The model refused to answer."),
    (_E.AI_MALFORMED_OUTPUT, None, _K.FAILED, "The AI provider's reply was unusable, even after retries."),
    (_E.TOKEN_BUDGET_EXCEEDED, None, _K.FAILED, "The tenant's AI token budget is used up."),
    (_E.VECTOR_STORE_CONFIG, None, _K.FAILED, "The vector store is not configured correctly on the server."),
    (_E.VECTOR_STORE_AUTH, None, _K.FAILED, "The vector store refused our credentials."),
    (_E.VECTOR_STORE_REJECTED, None, _K.FAILED, "The vector store rejected the request."),
    (_E.VECTOR_DIMENSION_MISMATCH, None, _K.FAILED, "The vectors do not have the size the vector store holds."),
    (_E.TENANT_MISMATCH, None, _K.FAILED, "The vectors belong to another tenant's document."),
    (_E.TRANSIENT_ERROR, None, _K.TRANSIENT, "A stage kept failing with temporary errors until its attempts ran out."),
    (_E.AI_UNAVAILABLE, 503, _K.TRANSIENT, "The AI provider cannot be reached right now."),
    (_E.AI_TIMEOUT, 503, _K.TRANSIENT, "The AI provider did not answer in time."),
    (_E.AI_RATE_LIMITED, 503, _K.TRANSIENT, "The AI provider asked us to slow down."),
    (_E.AI_BAD_REPLY, 503, _K.TRANSIENT, "The AI provider's reply was incomplete."),
    (_E.VECTOR_STORE_UNAVAILABLE, 503, _K.TRANSIENT, "The vector store cannot be reached right now."),
    (_E.BAD_REQUEST, 400, _K.API, "The request is malformed."),
    (_E.UNAUTHORIZED, 401, _K.API, "The API key is missing, not valid or revoked."),
    (_E.FORBIDDEN, 403, _K.API, "This API key may not do that."),
    (_E.NOT_FOUND, 404, _K.API, "No such document."),
    (_E.METHOD_NOT_ALLOWED, 405, _K.API, "This method is not allowed here."),
    (_E.FILE_TOO_LARGE, 413, _K.API, "The upload is larger than the server accepts."),
    (_E.UNSUPPORTED_MEDIA_TYPE, 415, _K.API, "The request body has a media type we do not accept."),
    (_E.TOO_MANY_REQUESTS, 429, _K.API, "Too many requests; slow down and try again."),
    (_E.HTTP_ERROR, None, _K.API, "The request could not be served."),
    (_E.NO_FILE, 400, _K.API, "Send the file as a multipart form field named 'file'."),
    (_E.INVALID_STATUS, 400, _K.API, "The status filter is not a document status."),
    (_E.INVALID_LIMIT, 400, _K.API, "limit must be an integer from 1 to 200."),
    (_E.INVALID_CURSOR, 400, _K.API, "The cursor is not one this server handed out."),
    (_E.MISSING_QUERY, 400, _K.API, "Pass the text to search for as ?q=."),
    (_E.INVALID_K, 400, _K.API, "k is out of range."),
    (_E.WEBHOOKS_DISABLED, 400, _K.API, "Webhooks need AEGIS_WEBHOOK_SECRET to be set on the server."),
    (_E.INVALID_CALLBACK_URL, 400, _K.API, "The callback URL is not an acceptable http(s) URL."),
    (_E.PRIVATE_CALLBACK_URL, 400, _K.API, "The callback URL points to a private or local address."),
    (_E.INVALID_OCR_OPTION, 400, _K.API, "The ocr field must be auto, off or always."),
    (_E.INVALID_OCR_LANGUAGES, 400, _K.API, "An OCR language is not one the OCR workers have installed."),
    (_E.NO_SEARCHABLE_PDF, 404, _K.API, "The document has no OCR'd pages, so no searchable PDF (yet)."),
    (_E.INVALID_DOCUMENT_ID, 400, _K.API, "A document id is a UUID such as 1b4e28ba-2fa1-11d2-883f-0016d3cca427."),
    (_E.REQUEST_TIMEOUT, 408, _K.API, "The request body arrived too slowly; send it again at a steady pace."),
    (_E.URI_TOO_LONG, 414, _K.API, "The request line is longer than the server accepts."),
    (_E.HEADERS_TOO_LARGE, 431, _K.API, "The request headers are larger than the server accepts."),
    (_E.TOO_MANY_STREAMS, 429, _K.API, "Too many event streams are open; close one or retry after a while."),
    (_E.STORAGE_UNAVAILABLE, 503, _K.TRANSIENT, "The blob store cannot be reached right now; retry after a while."),
    (_E.QUOTA_EXCEEDED, 429, _K.API,
     "A quota of the tenant is used up (the answer names it); a document over the page quota is rejected."),
    (_E.RATE_LIMITED, 429, _K.API, "The tenant sends requests faster than its rate limit; retry after a while."),
    (_E.INSUFFICIENT_SCOPE, 403, _K.API, "This API key's scope does not allow this request."),
    (_E.DATABASE_UNAVAILABLE, 503, _K.TRANSIENT,
     "The gateway lost its database connection; nothing was kept. Retry after a moment."),
)

ERRORS: dict[ErrorCode, ErrorInfo] = {
    code: ErrorInfo(code, http_status, kind, message) for code, http_status, kind, message in _DECLARED
}

# The code the gateway answers with when Werkzeug raises an HTTP error of that status
# (unknown routes, wrong methods, oversized bodies); other statuses get ``http_error``.
HTTP_CODES: dict[int, ErrorCode] = {
    status: code
    for code in (
        _E.BAD_REQUEST, _E.UNAUTHORIZED, _E.FORBIDDEN, _E.NOT_FOUND, _E.METHOD_NOT_ALLOWED,
        _E.FILE_TOO_LARGE, _E.UNSUPPORTED_MEDIA_TYPE, _E.TOO_MANY_REQUESTS, _E.REQUEST_TIMEOUT,
        _E.URI_TOO_LONG, _E.HEADERS_TOO_LARGE,
    )
    if (status := ERRORS[code].http_status) is not None
}


def info(code: ErrorCode | str) -> ErrorInfo:
    """The declaration of ``code``; a ``ValueError`` for a code nobody declared."""
    return ERRORS[ErrorCode(code)]


def is_rejection(code: ErrorCode | str) -> bool:
    """Whether ``code`` blames the file (document ``rejected``) rather than us (``failed``)."""
    return info(code).kind is ErrorKind.REJECTED


def code_for_http_status(status: int) -> ErrorCode:
    """The generic code for an HTTP error the gateway did not raise itself."""
    return HTTP_CODES.get(status, ErrorCode.HTTP_ERROR)


def markdown_table() -> str:
    """The README's error-code table, in declaration order (a unit test keeps them equal)."""
    lines = ["| code | HTTP | kind | meaning |", "| --- | --- | --- | --- |"]
    for item in ERRORS.values():
        status = str(item.http_status) if item.http_status is not None else "—"
        lines.append(f"| `{item.code}` | {status} | {item.kind} | {item.message} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
