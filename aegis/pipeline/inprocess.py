"""Every stage for one file in the calling process: what ``aegis extract`` runs.

No server, broker, blob store or database to set up, like ``tika --text`` or
``kreuzberg extract``. It drives the very runner the workers use (claim, run, save;
fanned-out batches one after another), so there is no second implementation of
any stage: the records live in a private SQLite database in memory, the file is
linked into a temporary folder, and both vanish when the call returns. Vectors
go to that in-memory store too, whatever vector store the installation names,
so extracting never writes to a shared index.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from aegis.config import Settings, StorageSettings
from aegis.persistence.db import IN_MEMORY, dispose_engines, get_engine, session_scope
from aegis.persistence.models import Base, Chunk, Document, Tenant
from aegis.persistence.storage import VolumeBlobStore
from aegis.pipeline.batches import BatchOutcome, execute_batch, open_batches
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.pipeline.runner import Outcome, execute
from aegis.services import documents as docs

WORKER = "aegis-extract"


@contextmanager
def local_settings(settings: Settings) -> Iterator[Settings]:
    """``settings`` pointed at a private in-memory database and a temporary folder."""
    folder = Path(tempfile.mkdtemp(prefix="aegis-extract-"))
    local = dataclasses.replace(
        settings, database_url=IN_MEMORY, data_dir=folder, storage_dir=folder / "storage",
        events_url=None, vector_store="local",
        # Always the volume store in the temporary folder, whatever AEGIS_STORAGE_URL says.
        storage=StorageSettings(temp_dir=folder / "tmp"),
    )
    try:
        Base.metadata.create_all(get_engine(local))
        yield local
    finally:
        dispose_engines()
        shutil.rmtree(folder, ignore_errors=True)


def extract(settings: Settings, path: Path, *, ai: bool = True, registry: Registry = REGISTRY) -> dict[str, Any]:
    """Run ``path`` through the stages (all but ``ai`` when ``ai`` is False); the result as JSON."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    sha = digest.hexdigest()
    with session_scope(settings) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.name == WORKER))
        if tenant is None:
            tenant = Tenant(name=WORKER)
            session.add(tenant)
            session.flush()
        blob = VolumeBlobStore(settings.storage_dir).path_for(tenant.id, sha)
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            _link_or_copy(path, blob)
        intake = docs.intake(
            session, tenant.id, path.name, sha, path.stat().st_size, admitted=True, registry=registry
        )
        doc_id, token = intake.document.id, intake.document.dispatch_token
        if intake.duplicate:
            docs.reprocess(session, intake.document)
            token = intake.document.dispatch_token
    for spec in registry:
        if spec.name == "ai" and not ai:
            break
        outcome = execute(settings, spec.name, doc_id, token, task_id=WORKER, worker=WORKER, registry=registry)
        if outcome is Outcome.FANNED_OUT:
            outcome = _run_batches(settings, spec.name, doc_id, token, registry)
        if outcome is not Outcome.SUCCEEDED:
            break
    return _result(settings, path, doc_id)


def _run_batches(settings: Settings, stage: str, doc_id: str, token: str, registry: Registry) -> Outcome:
    for index in open_batches(settings, doc_id, stage):
        done, _following = execute_batch(
            settings, stage, doc_id, token, index, task_id=f"{WORKER}-{index}", worker=WORKER, registry=registry
        )
        if done is BatchOutcome.ENDED:
            with session_scope(settings) as session:
                document = session.get(Document, doc_id)
                status = document.status if document else "failed"
            return Outcome.SUCCEEDED if status == "succeeded" else Outcome.FAILED
    return Outcome.SUCCEEDED


def _result(settings: Settings, path: Path, doc_id: str) -> dict[str, Any]:
    with session_scope(settings) as session:
        document = session.get(Document, doc_id)
        assert document is not None
        content = docs.get_content(session, document)
        chunks = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == doc_id)) or 0
        status = document.status
        if status not in ("succeeded", "rejected", "failed"):
            status = "succeeded"  # --no-ai: every stage asked for has run
        return {
            "file": str(path),
            "status": status,
            "error": {"code": document.error_code, "message": document.error_message} if document.error_code else None,
            "mime": document.mime,
            "metadata": document.doc_metadata,
            "pages": content["pages"],
            "chunks": chunks,
            "ai": document.ai,
            "warnings": document.warnings or [],
        }


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another filesystem, or links not allowed
        shutil.copyfile(source, target)
