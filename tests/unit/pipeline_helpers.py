"""Shared by the pipeline's unit tests: a document whose file is already in the store."""

from __future__ import annotations

import hashlib

from aegis.config import Settings
from aegis.persistence.db import session_scope
from aegis.persistence.models import Tenant, new_id
from aegis.persistence.storage import VolumeBlobStore
from aegis.pipeline.registry import REGISTRY, Registry
from aegis.services.documents import intake


def stored_document(
    settings: Settings, data: bytes, name: str, registry: Registry = REGISTRY
) -> tuple[str, str]:
    """A new tenant's queued document for ``data``; returns its id and dispatch token."""
    sha = hashlib.sha256(data).hexdigest()
    with session_scope(settings) as session:
        tenant = Tenant(name=new_id())
        session.add(tenant)
        session.flush()
        path = VolumeBlobStore(settings.storage_dir).path_for(tenant.id, sha)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        doc = intake(session, tenant.id, name, sha, len(data), admitted=True, registry=registry).document
        return doc.id, doc.dispatch_token
