"""``/v1/documents``: upload, status, content, list, reprocess, delete."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, g, jsonify, request, send_file, url_for
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from aegis.formats import needs_password
from aegis.formats.base import DocumentError
from aegis.formats.names import safe_filename
from aegis.observability import tracing
from aegis.observability.logs import add_context
from aegis.observability.metrics import metrics
from aegis.persistence.storage import CHUNK, BlobMissing, BlobStore, StorageError
from aegis.pipeline import admission
from aegis.pipeline import chain as pipeline
from aegis.services import audit, limits, webhooks
from aegis.services import documents as docs
from aegis.vocabulary import ErrorCode
from web import auditing, context
from web.auth import require_tenant
from web.context import blob_store, settings
from web.db import db_session
from web.errors import ApiError
from web.uploads import incoming_of

bp = Blueprint("documents", __name__, url_prefix="/v1/documents")
log = logging.getLogger("aegis.gateway")
# deadlock_detected, serialization_failure
_RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _dispatch(document_id: str, token: str, stage: str, priority: int | None = None) -> None:
    """Send the chain; a broker outage only delays the document (the reconciler resends)."""
    try:
        pipeline.send(context.celery(), document_id, token, stage, priority=priority)
    except Exception as exc:  # noqa: BLE001 - the row is committed; the reconciler owns it now
        log.warning("could not enqueue, the reconciler will: %s", exc, extra={"document_id": document_id})


def _admit(tenant_id: str | None) -> None:
    """Let waiting documents into the queues as far as the caps allow (``None``: any tenant's).

    Committed before the chains are sent; if this fails the documents stay
    ``queued`` and the next document end or reconciler tick admits them.
    """
    session = db_session()
    try:
        admitted = admission.admit(session, settings(), None if tenant_id is None else [tenant_id])
        session.commit()
    except OperationalError as exc:
        session.rollback()
        log.warning("admission deferred to the reconciler: %s", exc)
        return
    for doc in admitted:
        _dispatch(doc.document_id, doc.token, doc.stage, doc.priority)


def _document_or_404(document_id: str) -> Any:
    document = docs.get_document(db_session(), g.tenant.id, document_id)
    if document is None:
        raise ApiError(ErrorCode.NOT_FOUND)
    return document


@bp.post("")
@require_tenant
def upload() -> tuple[Response, int, dict[str, str]] | tuple[Response, int]:
    if request.mimetype != "multipart/form-data":
        # A raw body or JSON is not a mistake in the field name but in the media type: say so.
        raise ApiError(
            ErrorCode.UNSUPPORTED_MEDIA_TYPE, "Send the files as multipart/form-data, in fields named 'file'."
        )
    files = request.files.getlist("file")
    if not files:
        raise ApiError(ErrorCode.NO_FILE)
    password = request.form.get("password") or None
    options = _ocr_options(request.form)
    callback_url = request.form.get("callback_url") or None
    if callback_url:
        try:
            webhooks.check_url(callback_url, settings())
        except webhooks.WebhookError as exc:
            raise ApiError(exc.code, exc.message) from exc
    store = blob_store()
    session = db_session()
    tenant_id = g.tenant.id
    results: list[tuple[Any, bool]] = []
    placed: list[str] = []  # blobs moved into the store by this request
    charge: limits.Charge | None = None
    try:
        # Every file is checked (size, password) before any row is written, so a
        # refused file fails the whole upload without leaving its siblings behind.
        ready: list[tuple[Any, Any, bool]] = []
        for part in files:
            incoming = incoming_of(part)
            incoming.close()
            if incoming.size > settings().max_upload_bytes:
                # The request limit leaves room for multipart headers, so one file can slip past it.
                raise ApiError(
                    ErrorCode.FILE_TOO_LARGE,
                    f"{safe_filename(part.filename or '')!r} is larger than the limit of "
                    f"{settings().max_upload_bytes} bytes.",
                )
            # The password is for encrypted PDFs; other files in the same upload pass as they are.
            decrypted = False
            if password:
                with incoming.spooled() as path:
                    decrypted = needs_password(path)
            if decrypted:
                incoming = _decrypted(store, incoming, password or "")
            ready.append((part, incoming, decrypted))
        charge = _charge_quotas(session, ready)
        intakes: dict[int, docs.Intake] = {}
        # One file (the usual upload): its `accepted` event goes in with the document (one
        # statement on PostgreSQL). Several: all events below, in the request's order.
        folded = (
            audit.event_values("upload", "accepted", auditing.actor()) if len(ready) == 1 else None
        )
        # Inserted in sha256 order: two uploads sharing files wait for each other's rows
        # (the unique index) in one order, never in a cycle. Answered in the request's order.
        for n, (part, incoming, decrypted) in sorted(enumerate(ready), key=lambda item: item[1][1].sha256):
            # No tenant lock first: the insert itself settles "new or duplicate" (see docs.intake).
            intakes[n] = intake = docs.intake(
                session, tenant_id, safe_filename(part.filename or ""), incoming.sha256, incoming.size, callback_url,
                options=options,
                # Stored decrypted; the metadata stage reports the original as encrypted.
                metadata={"decrypted_with_password": True} if decrypted else None,
                # The upload's span is the root of the document's trace.
                traceparent=tracing.current_traceparent(),
                audit=folded,
            )
            if intake.duplicate:
                incoming.discard()
            else:
                store.commit(incoming, tenant_id)
                placed.append(incoming.sha256)
        results = [(intakes[n].document, intakes[n].duplicate) for n in range(len(ready))]
        for outcome in ("accepted", "duplicate"):
            ids: list[str | None] = [d.id for d, dup in results if dup == (outcome == "duplicate")]
            if ids and not (folded is not None and outcome == "accepted"):
                auditing.add(session, "upload", outcome, document_ids=ids)
        # Admitted in the same transaction: sent below if the tenant has room in flight,
        # otherwise left `queued` for its turn.
        # No savepoint: admission's tenant lock (FOR NO KEY UPDATE) does not conflict with our
        # inserts' key-share locks, so an error here is the connection's and fails the upload anyway.
        admitted: list[admission.Admitted] = []
        if not all(dup for _, dup in results):
            docs.lock_for_admission(session, tenant_id)
            admitted = admission.admit(session, settings(), [tenant_id])
        session.commit()
    except BaseException:
        # No row will point at these blobs: remove them rather than leak disk.
        session.rollback()
        if charge is not None:
            _refund(charge)
        for sha256 in placed:
            store.delete(tenant_id, sha256)
        raise
    m = metrics()
    for document, duplicate in results:
        m.uploads.labels("duplicate" if duplicate else "accepted").inc()
        m.upload_bytes.inc(document.size)
        if not duplicate:
            add_context(document_id=document.id)
            log.info("document accepted", extra={"document_id": document.id, "tenant": g.tenant.name})
    for doc in admitted:
        _dispatch(doc.document_id, doc.token, doc.stage, doc.priority)
    all_duplicates = all(dup for _, dup in results)
    status = 200 if all_duplicates else 202
    first = results[0][0]
    headers = {"Location": url_for("documents.status", document_id=first.id)}
    if len(results) == 1:
        body = docs.to_dict(first, duplicate=results[0][1])
    else:
        body = {"documents": [docs.to_dict(d, duplicate=dup) for d, dup in results]}
    return jsonify(body), status, headers


def _charge_quotas(session: Session, ready: list[tuple[Any, Any, bool]]) -> limits.Charge:
    """Count the upload's new documents and bytes against the tenant's quotas, all or nothing.

    Duplicates (same bytes as a document the tenant has, or twice in this upload)
    cost nothing: they create no document. Over a quota the whole upload is
    refused with 429 ``quota_exceeded`` naming it, before any row is written.
    """
    tenant = g.tenant
    if tenant.max_documents_per_day is None and tenant.max_bytes_per_day is None and tenant.max_stored_bytes is None:
        return limits.Charge()  # nothing to count: spare the duplicate lookups (one query per file)
    seen: set[str] = set()
    count = size = 0
    for _part, incoming, _decrypted in ready:
        if incoming.sha256 in seen or docs.find_by_sha(session, tenant.id, incoming.sha256) is not None:
            continue
        seen.add(incoming.sha256)
        count += 1
        size += incoming.size
    try:
        # The database is the record of stored bytes; a database error here is a real error.
        limits.check_storage(session, tenant, size)
    except limits.QuotaExceeded as exc:
        auditing.record("upload", ErrorCode.QUOTA_EXCEEDED, detail={"quota": exc.quota, "files": count})
        raise _quota_error(exc) from exc
    try:
        return limits.charge_daily(
            _counters(), tenant, {"max_documents_per_day": count, "max_bytes_per_day": size}
        )
    except limits.QuotaExceeded as exc:
        auditing.record("upload", ErrorCode.QUOTA_EXCEEDED, detail={"quota": exc.quota, "files": count})
        raise _quota_error(exc) from exc
    except Exception as exc:  # noqa: BLE001 - Redis down: accept rather than refuse everyone
        log.warning("upload quotas not counted: %s", exc)
        return limits.Charge()


def _quota_error(exc: limits.QuotaExceeded) -> ApiError:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else {}
    return ApiError(
        ErrorCode.QUOTA_EXCEEDED, str(exc), headers=headers,
        quota=exc.quota, limit=exc.limit, used=exc.used, retry_after=exc.retry_after,
    )


def _counters() -> limits.Counters:
    return limits.counters(settings().events_url)


def _refund(charge: limits.Charge) -> None:
    try:
        charge.refund(_counters())
    except Exception as exc:  # noqa: BLE001 - the day's count stays a little high
        log.warning("quota refund failed: %s", exc)


def _ocr_options(form: Any) -> dict[str, str] | None:
    """The optional ``ocr`` (auto, off, always) and ``ocr_languages`` (eng+deu) fields.

    Languages are checked against the packs installed here (the gateway runs the
    workers' image); a gateway without Tesseract checks the syntax only and leaves
    the rest to the OCR workers.
    """
    from aegis.ocr.engine import check_languages
    from aegis.ocr.errors import OcrEngineMissing, OcrLanguageMissing
    from aegis.ocr.settings import LANGUAGES_PATTERN

    options: dict[str, str] = {}
    mode = (form.get("ocr") or "").strip().lower()
    if mode:
        if mode not in ("auto", "off", "always"):
            raise ApiError(ErrorCode.INVALID_OCR_OPTION, f"ocr must be auto, off or always, not {mode[:20]!r}.")
        options["ocr"] = mode
    languages = (form.get("ocr_languages") or "").strip()
    if languages:
        if not LANGUAGES_PATTERN.fullmatch(languages) or len(languages) > 200:
            raise ApiError(ErrorCode.INVALID_OCR_LANGUAGES, "ocr_languages must be Tesseract codes joined by '+'.")
        try:
            check_languages(languages)
        except OcrLanguageMissing as exc:
            raise ApiError(ErrorCode.INVALID_OCR_LANGUAGES, exc.message, languages=exc.languages) from exc
        except OcrEngineMissing:
            pass
        options["ocr_languages"] = languages
    return options or None


def _decrypted(store: BlobStore, incoming: Any, password: str) -> Any:
    """Replace an encrypted PDF by an unencrypted copy; the password is never stored."""
    import tempfile

    from aegis.formats import decrypt_pdf

    store.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=store.temp_dir, prefix="upload-") as out, incoming.spooled() as source:
        try:
            decrypt_pdf(source, Path(out.name), password)
        except DocumentError as exc:
            incoming.discard()
            # Whatever the code's kind, a file we cannot open at upload is unprocessable content.
            raise ApiError(exc.code, exc.message, status=422) from exc
        plain = store.incoming()
        # Removed at teardown unless committed, like the parts themselves (a later file may fail).
        g.setdefault("incoming_blobs", []).append(plain)
        with open(out.name, "rb") as decrypted:
            while data := decrypted.read(CHUNK):
                plain.write(data)
        plain.close()
    incoming.discard()
    return plain


@bp.get("")
@require_tenant
def list_() -> Response:
    status = request.args.get("status") or None
    if status and status not in docs.STATUSES:
        raise ApiError(ErrorCode.INVALID_STATUS, f"status must be one of {', '.join(docs.STATUSES)}.")
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), 200)
    except ValueError as exc:
        raise ApiError(ErrorCode.INVALID_LIMIT) from exc
    try:
        rows, cursor = docs.list_documents(
            db_session(), g.tenant.id, status=status, limit=limit, cursor=request.args.get("cursor")
        )
    except docs.InvalidCursor as exc:
        raise ApiError(ErrorCode.INVALID_CURSOR, str(exc)) from exc
    return jsonify({"documents": [docs.to_dict(d) for d in rows], "next_cursor": cursor})


@bp.get("/<document_id>")
@require_tenant
def status(document_id: str) -> Response:
    return jsonify(docs.to_dict(_document_or_404(document_id)))


@bp.get("/<document_id>/content")
@require_tenant
def content(document_id: str) -> Response:
    document = _document_or_404(document_id)
    return jsonify(docs.get_content(db_session(), document))


@bp.get("/<document_id>/searchable.pdf")
@require_tenant
def searchable_pdf(document_id: str) -> Response:
    """The original with OCR's invisible text over each OCR'd page (an archive copy)."""
    import tempfile

    from aegis.ocr.searchable import write_searchable_pdf
    from aegis.pipeline.stages.ocr import KINDS

    document = _document_or_404(document_id)
    kind = KINDS.get(document.family or "")
    layers = docs.ocr_layers(db_session(), document) if kind and document.status == "succeeded" else {}
    if not kind or not layers:
        raise ApiError(ErrorCode.NO_SEARCHABLE_PDF)
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - closed by the response
    try:
        with blob_store().local_copy(document.tenant_id, document.sha256) as source:
            write_searchable_pdf(source, kind, layers, spool)
    except BlobMissing as exc:
        spool.close()
        raise ApiError(ErrorCode.BLOB_MISSING, status=410) from exc
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    name = document.filename.rsplit(".", 1)[0] + ".searchable.pdf"
    return send_file(spool, mimetype="application/pdf", download_name=name, as_attachment=True)


@bp.post("/<document_id>/reprocess")
@require_tenant
def reprocess(document_id: str) -> tuple[Response, int]:
    _document_or_404(document_id)
    # Old vectors go first, so search never mixes a previous run's chunks with the new ones.
    # Outside the row lock: the vector store may use a connection of its own.
    _delete_vectors(g.tenant.id, docs.parse_id(document_id) or document_id)

    def reset(session: Session) -> Any:
        document = _locked_or_404(session, document_id)
        docs.reprocess(session, document)
        return document

    document = _with_lock_retry(reset)
    auditing.record("reprocess", "accepted", document_ids=[document.id])
    _admit(g.tenant.id)
    return jsonify(docs.to_dict(document)), 202


@bp.delete("/<document_id>")
@require_tenant
def remove(document_id: str) -> tuple[str, int]:
    first = _document_or_404(document_id)
    tenant_id, doc_id = first.tenant_id, first.id
    _delete_vectors(tenant_id, doc_id)

    def delete(session: Session) -> Any:
        document = _locked_or_404(session, document_id)
        sha256 = document.sha256
        docs.delete_rows(session, document)
        return sha256

    sha256 = _with_lock_retry(delete)
    # Documents are unique per tenant and digest today; the check keeps the bytes of
    # any other row that points at them (a restored backup, a future copy endpoint).
    if docs.find_by_sha(db_session(), tenant_id, sha256) is None:
        try:
            blob_store().delete(tenant_id, sha256)
        except StorageError as exc:
            # The rows are gone and the client's request is done; an orphan blob is
            # unreachable (content-addressed per tenant) and a re-upload reuses it.
            log.warning("blob of a deleted document left in storage: %s", exc, extra={"document_id": doc_id})
    auditing.record("delete", "deleted", document_ids=[doc_id])
    _admit(None)  # a deleted in-flight document frees a slot, which any tenant may take
    return "", 204


def _locked_or_404(session: Session, document_id: str) -> Any:
    document = docs.get_document(session, g.tenant.id, document_id, for_update=True)
    if document is None:
        # Deleted by a concurrent request since we looked: it is gone either way.
        raise ApiError(ErrorCode.NOT_FOUND)
    return document


def _with_lock_retry(work: Callable[[Session], Any], attempts: int = 3) -> Any:
    """Run ``work`` in the request's session and commit, retrying a lost deadlock.

    The document row is locked first everywhere, so a deadlock can only come from
    rows the vector store writes on its own connection; PostgreSQL then aborts one
    side, and the request must retry rather than answer 500.
    """
    session = db_session()
    session.commit()  # end the unlocked read; the row is read again under its lock
    for attempt in range(1, attempts + 1):
        try:
            result = work(session)
            session.commit()
            return result
        except OperationalError as exc:
            session.rollback()
            if attempt == attempts or getattr(exc.orig, "sqlstate", None) not in _RETRYABLE_SQLSTATES:
                raise
            log.info("lock conflict, retrying (%s)", getattr(exc.orig, "sqlstate", None))
    raise AssertionError("unreachable")


def _delete_vectors(tenant_id: str, document_id: str) -> None:
    from aegis.ai import AIError

    try:
        context.vector_store().delete_document(tenant_id, document_id)
    except AIError as exc:
        raise ApiError(ErrorCode.VECTOR_STORE_UNAVAILABLE, f"The vector store did not answer: {exc.message}") from exc
