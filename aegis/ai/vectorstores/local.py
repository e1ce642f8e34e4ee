"""Vectors in the ``chunks`` table, searched with numpy.

The chunk rows already exist (the content stage writes them) and already carry
``tenant_id``, so keeping the vector next to the text costs no extra service and
deletes with the document. Every query is filtered by ``tenant_id`` in SQL, before
any vector is read, so one tenant's data never reaches another's ranking.

Search is exact (brute-force cosine). Rows are streamed in batches and only the
running top ``k`` is kept, so memory stays flat however many chunks a tenant has;
time is linear in the tenant's chunk count, which is fine up to a few hundred
thousand chunks per tenant. Beyond that, use the Pinecone store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np
from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.errors import PermanentAIError
from aegis.ai.types import Match, VectorItem
from aegis.persistence.models import Chunk
from aegis.vocabulary import ErrorCode

_BATCH_ROWS = 2_000


def to_bytes(vector: Sequence[float]) -> bytes:
    """float32 little-endian, the layout the ``embedding`` column documents."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_blobs(vectors: Sequence[Sequence[float]]) -> list[bytes]:
    """:func:`to_bytes` of each vector (all of one size), converted as one array: same bytes, one numpy call."""
    if not vectors:
        return []
    return [row.tobytes() for row in np.asarray(vectors, dtype="<f4")]


#: One Core executemany (psycopg pipelines it on PostgreSQL): no ORM bookkeeping per row.
#: A single ``UPDATE ... FROM unnest(:indexes, :blobs)`` was measured too: more client CPU
#: (the bytea array's dumping) and a slower server side for a 1,719-chunk document.
_CHUNKS = cast(Table, Chunk.__table__)
_SET_EMBEDDING = (
    update(_CHUNKS)
    .where(_CHUNKS.c.document_id == bindparam("d"), _CHUNKS.c.index == bindparam("i"))
    .values(embedding=bindparam("e"))
)


def _set_embeddings(session: Session, document_id: str, indexes: list[int], blobs: Sequence[bytes | None]) -> None:
    """Set the ``embedding`` of the document's chunks ``indexes`` (``None`` clears it).

    The ORM's bulk UPDATE by primary key built each of a 619-page PDF's ~1,700
    parameter sets through its persistence machinery; a Core statement with bound
    parameters goes straight to the driver's executemany.
    """
    rows = [{"d": document_id, "i": i, "e": b} for i, b in zip(indexes, blobs, strict=True)]
    session.execute(_SET_EMBEDDING, rows)


def from_bytes(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


class LocalVectorStore:
    name = "local"

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def upsert(self, tenant_id: str, document_id: str, items: list[VectorItem]) -> None:
        """Make ``items`` the document's only vectors.

        Chunks the content stage wrote keep their text; missing chunk rows are
        created from the item so the store also works on its own. Chunks of the
        document that are not in ``items`` lose their vector: a reprocessed
        document never keeps stale vectors around.
        """
        dims = {len(item.vector) for item in items}
        if len(dims) > 1:
            raise PermanentAIError(ErrorCode.VECTOR_DIMENSION_MISMATCH, f"mixed vector sizes {sorted(dims)}")
        with self._sessions() as session, session.begin():
            # Only the keys and who owns them: the chunk text stays in the database.
            rows = {
                index: (tenant, has_vector)
                for index, tenant, has_vector in session.execute(
                    select(Chunk.index, Chunk.tenant_id, Chunk.embedding.is_not(None))
                    .where(Chunk.document_id == document_id)
                )
            }
            if any(tenant != tenant_id for tenant, _ in rows.values()):
                raise PermanentAIError(ErrorCode.TENANT_MISMATCH, f"document {document_id} belongs to another tenant")
            wanted = {item.chunk_index for item in items}
            stale = [index for index, (_, has_vector) in rows.items() if has_vector and index not in wanted]
            if stale:
                _set_embeddings(session, document_id, stale, [None] * len(stale))
            present = [item for item in items if item.chunk_index in rows]
            if present:
                _set_embeddings(session, document_id, [item.chunk_index for item in present],
                                vector_blobs([item.vector for item in present]))
            missing = [item for item in items if item.chunk_index not in rows]
            if missing:
                session.execute(
                    insert(Chunk),
                    [
                        {"document_id": document_id, "index": item.chunk_index, "tenant_id": tenant_id,
                         "page_start": item.page_start, "page_end": item.page_end, "text": item.text,
                         "embedding": blob}
                        for item, blob in zip(missing, vector_blobs([i.vector for i in missing]), strict=True)
                    ],
                )

    def delete_document(self, tenant_id: str, document_id: str) -> None:
        """Drop the document's vectors; its chunk text belongs to the content stage."""
        with self._sessions() as session, session.begin():
            session.execute(
                update(Chunk)
                .where(Chunk.tenant_id == tenant_id, Chunk.document_id == document_id)
                .values(embedding=None)
            )

    def query(self, tenant_id: str, vector: Sequence[float], k: int, document_id: str | None = None) -> list[Match]:
        if k <= 0:
            return []
        q = np.asarray(vector, dtype=np.float32)
        q_norm = float(np.linalg.norm(q))
        if q_norm == 0.0:
            return []
        q = q / q_norm
        stmt = select(Chunk.document_id, Chunk.index, Chunk.embedding).where(
            Chunk.tenant_id == tenant_id, Chunk.embedding.is_not(None)
        )
        if document_id is not None:
            stmt = stmt.where(Chunk.document_id == document_id)
        best_scores = np.empty(0, dtype=np.float32)
        best_keys: list[tuple[str, int]] = []
        with self._sessions() as session:
            result = session.execute(stmt.execution_options(yield_per=_BATCH_ROWS))
            for batch in result.partitions():
                keys, vectors = [], []
                for doc_id, index, blob in batch:
                    if blob is None:
                        continue
                    vec = from_bytes(blob)
                    if vec.shape[0] == q.shape[0]:  # vectors from another model are skipped
                        keys.append((doc_id, index))
                        vectors.append(vec)
                if not vectors:
                    continue
                matrix = np.vstack(vectors)
                norms = np.linalg.norm(matrix, axis=1)
                norms[norms == 0] = 1.0
                scores = (matrix @ q) / norms
                best_scores = np.concatenate([best_scores, scores.astype(np.float32)])
                best_keys.extend(keys)
                if len(best_keys) > k:
                    keep = np.argpartition(-best_scores, k - 1)[:k]
                    best_scores = best_scores[keep]
                    best_keys = [best_keys[i] for i in keep]
        order: Sequence[int] = (
            np.lexsort((np.array([key[1] for key in best_keys]), -best_scores)).tolist() if best_keys else []
        )
        return [
            Match(document_id=best_keys[i][0], chunk_index=int(best_keys[i][1]), score=float(best_scores[i]))
            for i in order
        ]
