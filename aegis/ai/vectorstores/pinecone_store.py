"""Vectors in a Pinecone serverless index, one namespace per tenant.

* The namespace is derived here from the tenant id (``tenant-<id>``), never taken
  from a client, so a request can only ever reach its own tenant's vectors.
* Record ids are ``<document_id>#<chunk_index>``: the ``#`` prefix convention lets
  us find every record of a document with ``list(prefix=...)``, which is how a
  serverless index deletes "by document" (listing is serverless-only; delete by
  metadata filter was pod-only for a long time, so we do not rely on it).
* Upsert writes the new records first, then deletes the document's records that
  are no longer wanted, so a reprocessed document never has duplicates and is
  never briefly unsearchable.
* Metadata carries document id, chunk index, pages and a text excerpt trimmed to
  stay far below Pinecone's 40 KB per-record metadata limit.

Uses the current ``pinecone`` package (not the deprecated ``pinecone-client``).
``AEGIS_PINECONE_HOST`` addresses the index directly (skipping the control-plane
lookup by name), which is also how the tests point the SDK at a local fake.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from aegis.ai.errors import PermanentAIError, TransientAIError
from aegis.ai.types import Match, VectorItem
from aegis.config import PINECONE_MAX_UPSERT_BATCH, Settings
from aegis.vocabulary import ErrorCode

log = logging.getLogger(__name__)

EXCERPT_BYTES = 8_000  # of the 40 KB metadata budget; the full text lives in PostgreSQL
MAX_UPSERT_BATCH = PINECONE_MAX_UPSERT_BATCH
DELETE_BATCH = 1_000  # Pinecone's limit of ids per delete request
LIST_PAGE = 100


def namespace_for(tenant_id: str) -> str:
    return f"tenant-{tenant_id}"


def record_id(document_id: str, chunk_index: int) -> str:
    return f"{document_id}#{chunk_index}"


def parse_record_id(value: str) -> tuple[str, int] | None:
    document_id, sep, index = value.rpartition("#")
    if not sep or not index.isdigit():
        return None
    return document_id, int(index)


def excerpt(text: str, limit: int = EXCERPT_BYTES) -> str:
    """At most ``limit`` UTF-8 bytes of ``text``, never cutting a character in half."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", errors="ignore")


def _translate(exc: Exception) -> Exception:
    """Map a ``pinecone`` exception onto the pipeline's error types (SDK versions differ)."""
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
    name = type(exc).__name__
    if isinstance(exc, (TimeoutError, ConnectionError)) or "Timeout" in name or "Connection" in name:
        return TransientAIError(f"cannot reach Pinecone: {exc}", code=ErrorCode.VECTOR_STORE_UNAVAILABLE)
    if isinstance(status, int):
        if status in (408, 429) or status >= 500:
            return TransientAIError(f"Pinecone answered {status}", code=ErrorCode.VECTOR_STORE_UNAVAILABLE)
        if status in (401, 403):
            return PermanentAIError(ErrorCode.VECTOR_STORE_AUTH, f"Pinecone refused our API key ({status})")
        return PermanentAIError(ErrorCode.VECTOR_STORE_REJECTED, f"Pinecone rejected the request ({status}): {exc}")
    if isinstance(exc, ValueError):
        return PermanentAIError(ErrorCode.VECTOR_STORE_REJECTED, f"invalid Pinecone request: {exc}")
    return TransientAIError(f"Pinecone call failed: {exc}", code=ErrorCode.VECTOR_STORE_UNAVAILABLE)


class PineconeVectorStore:
    name = "pinecone"

    def __init__(
        self,
        *,
        api_key: str | None,
        index_name: str | None = None,
        host: str | None = None,
        batch_size: int = 100,
        timeout: float = 30.0,
        index: Any = None,
    ) -> None:
        if index is None and not api_key:
            raise PermanentAIError(ErrorCode.VECTOR_STORE_CONFIG, "AEGIS_VECTOR_STORE=pinecone needs PINECONE_API_KEY")
        if index is None and not (index_name or host):
            raise PermanentAIError(
                ErrorCode.VECTOR_STORE_CONFIG,
                "AEGIS_VECTOR_STORE=pinecone needs AEGIS_PINECONE_INDEX or AEGIS_PINECONE_HOST"
            )
        self._api_key = api_key
        self._index_name = index_name
        self._host = host
        self._timeout = timeout
        self.batch_size = max(1, min(batch_size, MAX_UPSERT_BATCH))
        self._index = index

    @classmethod
    def from_settings(cls, settings: Settings) -> PineconeVectorStore:
        return cls(
            api_key=settings.pinecone_api_key,
            index_name=settings.pinecone_index,
            host=settings.pinecone_host,
            batch_size=settings.pinecone_batch_size,
            timeout=settings.pinecone_timeout,
        )

    @property
    def index(self) -> Any:
        """The SDK's data-plane client, created on first use (no I/O at construction)."""
        if self._index is None:
            try:
                from pinecone import Pinecone

                client = Pinecone(api_key=self._api_key, timeout=self._timeout)
                if self._host:
                    self._index = client.Index(host=self._host)
                else:
                    self._index = client.Index(name=self._index_name or "")
            except Exception as exc:  # noqa: BLE001 - translated below
                raise _translate(exc) from exc
        return self._index

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.index, method)(**kwargs)
        except (TransientAIError, PermanentAIError):
            raise
        except Exception as exc:  # noqa: BLE001 - translated below
            raise _translate(exc) from exc

    def verify(self, dimension: int) -> None:
        """Fail fast, and permanently, when the index cannot hold this provider's vectors.

        Pinecone would reject every upsert of the wrong width anyway; checking once
        (at worker start or readiness) turns a stream of failed documents into one
        clear configuration error.
        """
        stats = self._call("describe_index_stats")
        actual = getattr(stats, "dimension", None)
        if actual and dimension and int(actual) != int(dimension):
            raise PermanentAIError(
                ErrorCode.VECTOR_DIMENSION_MISMATCH,
                f"the Pinecone index holds {actual}-dimensional vectors but the provider makes {dimension}",
            )

    def upsert(self, tenant_id: str, document_id: str, items: list[VectorItem]) -> None:
        namespace = namespace_for(tenant_id)
        records = [
            {
                "id": record_id(document_id, item.chunk_index),
                "values": [float(v) for v in item.vector],
                "metadata": {
                    "document_id": document_id,
                    "chunk_index": item.chunk_index,
                    "page_start": item.page_start,
                    "page_end": item.page_end,
                    "text": excerpt(item.text),
                },
            }
            for item in items
        ]
        for start in range(0, len(records), self.batch_size):
            self._call("upsert", vectors=records[start : start + self.batch_size], namespace=namespace)
        wanted = {r["id"] for r in records}
        stale = [vid for vid in self._document_ids(namespace, document_id) if vid not in wanted]
        self._delete_ids(namespace, stale)

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        namespace = namespace_for(tenant_id)
        self._delete_ids(namespace, list(self._document_ids(namespace, document_id)))

    def query(self, tenant_id: str, vector: Sequence[float], k: int, document_id: str | None = None) -> list[Match]:
        if k <= 0:
            return []
        options: dict[str, Any] = {
            "vector": [float(v) for v in vector],
            "top_k": k,
            "namespace": namespace_for(tenant_id),
            "include_values": False,
            "include_metadata": False,
        }
        if document_id is not None:
            options["filter"] = {"document_id": {"$eq": document_id}}
        response = self._call("query", **options)
        matches = []
        for match in getattr(response, "matches", None) or []:
            parsed = parse_record_id(str(match.id))
            if parsed is None or (document_id is not None and parsed[0] != document_id):
                continue
            matches.append(Match(document_id=parsed[0], chunk_index=parsed[1], score=float(match.score)))
        return matches

    def _document_ids(self, namespace: str, document_id: str) -> Iterator[str]:
        """Every record id of the document, via list-by-prefix (serverless)."""
        prefix = f"{document_id}#"
        token: str | None = None
        while True:
            options: dict[str, Any] = {"prefix": prefix, "limit": LIST_PAGE, "namespace": namespace}
            if token:
                options["pagination_token"] = token
            page = self._call("list_paginated", **options)
            for item in getattr(page, "vectors", None) or []:
                vid = str(item.id)
                if vid.startswith(prefix):  # never trust a server to have applied the prefix
                    yield vid
            pagination = getattr(page, "pagination", None)
            token = getattr(pagination, "next", None) if pagination is not None else None
            if not token:
                return

    def _delete_ids(self, namespace: str, ids: list[str]) -> None:
        for start in range(0, len(ids), DELETE_BATCH):
            self._call("delete", ids=ids[start : start + DELETE_BATCH], namespace=namespace)
