"""Semantic search over one tenant's chunks: embed the query, rank, join the text.

The vector store ranks; PostgreSQL (the record of truth) supplies filename, pages
and text, joined on ``tenant_id`` again. So even a store that returned a foreign or
stale id (a Pinecone namespace mix-up, a document deleted a moment ago) cannot leak
another tenant's text or show a vanished document: such hits are dropped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from aegis.ai.types import Provider, VectorStore
from aegis.config import Settings
from aegis.persistence.models import Chunk, Document

MAX_QUERY_CHARS = 2_000
MAX_K = 100
# Ask the store for a few more than k so dropped (stale) hits do not shrink the page.
_OVERFETCH = 5


def search(
    session: Session,
    settings: Settings,
    provider: Provider,
    store: VectorStore,
    tenant_id: str,
    q: str,
    k: int = 10,
    document_id: str | None = None,
) -> list[dict[str, Any]]:
    """Top ``k`` chunks of ``tenant_id``'s documents for the query ``q``.

    Each result is ``{"document_id", "filename", "page_start", "page_end", "score",
    "text"}``, best first. ``settings`` is accepted for symmetry with the other
    entry points (limits may move there); nothing in it is required today.
    """
    query = (q or "").strip()[:MAX_QUERY_CHARS]
    k = max(0, min(int(k), MAX_K))
    if not query or k == 0 or not tenant_id:
        return []
    vector = provider.embed_query(query)
    matches = store.query(tenant_id, vector, k + _OVERFETCH, document_id=document_id)
    if not matches:
        return []
    keys = [(m.document_id, m.chunk_index) for m in matches]
    rows = session.execute(
        select(Chunk.document_id, Chunk.index, Chunk.page_start, Chunk.page_end, Chunk.text, Document.filename)
        .join(Document, Document.id == Chunk.document_id)
        .where(
            Chunk.tenant_id == tenant_id,
            Document.tenant_id == tenant_id,
            tuple_(Chunk.document_id, Chunk.index).in_(keys),
        )
    ).all()
    # ``row.index`` would be the tuple method: read the column by mapping.
    by_key: dict[tuple[str, int], Any] = {(row.document_id, row._mapping[Chunk.index]): row for row in rows}
    results: list[dict[str, Any]] = []
    for match in matches:
        row = by_key.get((match.document_id, match.chunk_index))
        if row is None:
            continue
        results.append(
            {
                "document_id": row.document_id,
                "filename": row.filename,
                "page_start": row.page_start,
                "page_end": row.page_end,
                "score": round(float(match.score), 6),
                "text": row.text,
            }
        )
        if len(results) == k:
            break
    return results
