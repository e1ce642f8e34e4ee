"""The local vector store and search on real PostgreSQL (bytea vectors, streamed reads, row-value IN)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.local import LocalProvider
from aegis.ai.types import VectorItem
from aegis.ai.vectorstores.local import LocalVectorStore
from aegis.config import load_settings
from aegis.persistence.models import Document, Tenant
from aegis.services.search import search
from tests.harness import postgres_sessions

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def factory() -> Iterator[sessionmaker[Session]]:
    with postgres_sessions() as factory:
        yield factory


def test_vectors_round_trip_rank_and_stay_within_their_tenant_on_postgresql(factory, monkeypatch) -> None:
    import aegis.ai.vectorstores.local as local

    monkeypatch.setattr(local, "_BATCH_ROWS", 3)  # exercise server-side streaming in several partitions
    provider = LocalProvider(dimension=256)
    store = LocalVectorStore(factory)
    docs = {
        ("t1", "d1", "manual.pdf"): ["Unplug the kettle before descaling it.", "Descale monthly with vinegar."],
        ("t1", "d2", "story.docx"): ["The whale surfaced near the ship.", "Sailors watched the whale dive."],
        ("t2", "d3", "secret.txt"): ["Descaling the kettle of the other tenant is top secret."],
    }
    with factory() as session, session.begin():
        session.add_all([Tenant(id="t1", name="one"), Tenant(id="t2", name="two")])
        session.flush()
        for tenant, doc, filename in docs:
            session.add(Document(id=doc, tenant_id=tenant, filename=filename, sha256=doc * 32, size=1))
    for (tenant, doc, _), chunks in docs.items():
        vectors = provider.embed(chunks)
        store.upsert(
            tenant, doc, [VectorItem(i, v, 1, 1, t) for i, (t, v) in enumerate(zip(chunks, vectors, strict=True))]
        )
    store.upsert("t1", "d1", [VectorItem(0, provider.embed(["Unplug the kettle before descaling it."])[0], 1, 1, "")])

    with factory() as session:
        # No relevance floor: the store's every hit, unrelated ones included, to check ranking and tenancy.
        no_floor = load_settings({"AEGIS_DATA_DIR": "/nonexistent/aegis", "AEGIS_SEARCH_MIN_SCORE": "0"})
        results = search(session, no_floor, provider, store, "t1", "how to descale the kettle", k=10)
        relevant = search(session, None, provider, store, "t1", "how to descale the kettle", k=10)
    assert results[0]["document_id"] == "d1" and results[0]["filename"] == "manual.pdf"
    assert results[0]["text"] == "Unplug the kettle before descaling it."
    assert {r["document_id"] for r in results} == {"d1", "d2"}
    assert len(results) == 3  # d1's second chunk lost its vector when d1 was re-upserted with one chunk
    # With the default floor the whale story, which shares no word with the query, is not a result.
    assert [r["document_id"] for r in relevant] == ["d1"]

    store.delete_document("t1", "d1")
    assert {m.document_id for m in store.query("t1", provider.embed_query("kettle"), k=10)} == {"d2"}
    assert {m.document_id for m in store.query("t2", provider.embed_query("kettle"), k=10)} == {"d3"}


def test_vectors_written_over_content_chunks_are_the_exact_float32_bytes_on_postgresql(factory) -> None:
    """The Core executemany write stores what ``to_bytes`` gives, chunk by chunk, and clears the rest."""
    from sqlalchemy import delete, select

    from aegis.ai.vectorstores.local import to_bytes
    from aegis.persistence.models import Chunk

    provider = LocalProvider(dimension=256)
    texts = [f"Chunk {i} of the long manual about descaling kettle number {i * 7}." for i in range(150)]
    with factory() as session, session.begin():
        session.add(Tenant(id="t9", name="nine"))
        session.flush()
        session.add(Document(id="d9", tenant_id="t9", filename="long.pdf", sha256="9" * 64, size=1))
        session.flush()
        session.add_all([Chunk(document_id="d9", tenant_id="t9", index=i, page_start=i, page_end=i, text=t)
                         for i, t in enumerate(texts)])
    store = LocalVectorStore(factory)
    try:
        vectors = provider.embed(texts)
        items = [VectorItem(i, v, i, i, t) for i, (t, v) in enumerate(zip(texts, vectors, strict=True))]
        store.upsert("t9", "d9", items)
        kept = [VectorItem(i, vectors[i], i, i, texts[i]) for i in range(0, 150, 3)]
        store.upsert("t9", "d9", kept)
        with factory() as session:
            rows = session.execute(select(Chunk.index, Chunk.embedding).where(Chunk.document_id == "d9")).all()
        stored = {index: blob for index, blob in rows}
        assert stored == {i: (to_bytes(vectors[i]) if i % 3 == 0 else None) for i in range(150)}
    finally:
        with factory() as session, session.begin():
            session.execute(delete(Document).where(Document.id == "d9"))
            session.execute(delete(Tenant).where(Tenant.id == "t9"))
