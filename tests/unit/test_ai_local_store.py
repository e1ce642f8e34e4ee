"""The local vector store (vectors in the ``chunks`` table) and the search on top of it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from aegis.ai import get_vector_store
from aegis.ai.errors import PermanentAIError
from aegis.ai.local import LocalProvider
from aegis.ai.types import Match, VectorItem
from aegis.ai.vectorstores.local import LocalVectorStore, from_bytes
from aegis.config import load_settings
from aegis.persistence.models import Base, Chunk, Document, Tenant
from aegis.services.search import search

# These tests are about ranking, joins, tenancy and k, not relevance: with no floor the
# store's every hit comes back (test_search_corpus_retrieval.py covers the floor).
NO_FLOOR = load_settings({"AEGIS_DATA_DIR": "/nonexistent/aegis", "AEGIS_SEARCH_MIN_SCORE": "0"})
DIM = 4


def unit(i: int) -> list[float]:
    return [1.0 if j == i % DIM else 0.0 for j in range(DIM)]


def items(n: int, text: str = "text") -> list[VectorItem]:
    return [VectorItem(i, unit(i), i + 1, i + 1, f"{text} {i}") for i in range(n)]


@pytest.fixture
def factory() -> Iterator[sessionmaker[Session]]:
    engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        session.add_all([Tenant(id="t1", name="one"), Tenant(id="t2", name="two")])
        for doc, tenant in (("a", "t1"), ("b", "t1"), ("x", "t2")):
            session.add(Document(id=doc, tenant_id=tenant, filename=f"{doc}.pdf", sha256=doc * 64, size=1))
    yield factory
    engine.dispose()


def embeddings(factory: sessionmaker[Session], document_id: str) -> dict[int, list[float] | None]:
    with factory() as session:
        rows = session.execute(select(Chunk.index, Chunk.embedding).where(Chunk.document_id == document_id))
        return {i: (from_bytes(e).tolist() if e is not None else None) for i, e in rows}


def test_upsert_stores_float32_vectors_on_the_chunk_rows(factory: sessionmaker[Session]) -> None:
    LocalVectorStore(factory).upsert("t1", "a", items(3))
    stored = embeddings(factory, "a")
    assert stored == {0: unit(0), 1: unit(1), 2: unit(2)}
    with factory() as session:
        blob = session.scalar(select(Chunk.embedding).where(Chunk.document_id == "a", Chunk.index == 1))
    assert blob == np.asarray(unit(1), dtype="<f4").tobytes()


def test_upsert_keeps_the_text_the_content_stage_wrote(factory: sessionmaker[Session]) -> None:
    with factory() as session, session.begin():
        session.add(Chunk(document_id="a", index=0, tenant_id="t1", page_start=7, page_end=8, text="original"))
    LocalVectorStore(factory).upsert("t1", "a", [VectorItem(0, unit(0), 1, 1, "ignored")])
    with factory() as session:
        row = session.get(Chunk, ("a", 0))
        assert (row.text, row.page_start, row.embedding is not None) == ("original", 7, True)


def test_reupserting_replaces_vectors_and_never_duplicates(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(4))
    store.upsert("t1", "a", [VectorItem(i, unit(3), 1, 1, "t") for i in range(2)])

    stored = embeddings(factory, "a")
    assert stored[0] == unit(3) and stored[1] == unit(3)
    assert stored[2] is None and stored[3] is None  # stale vectors are gone
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == "a")) == 4
    assert [m.chunk_index for m in store.query("t1", unit(3), k=10)] == [0, 1]


def test_query_ranks_by_cosine_within_the_tenant_only(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(3))
    store.upsert("t2", "x", items(3))

    matches = store.query("t1", [0.0, 2.0, 0.1, 0.0], k=2)

    assert [(m.document_id, m.chunk_index) for m in matches] == [("a", 1), ("a", 2)]
    assert matches[0].score == pytest.approx(2.0 / np.linalg.norm([0, 2, 0.1, 0]))
    assert all(m.document_id != "x" for m in store.query("t1", unit(0), k=100))
    assert store.query("t3", unit(0), k=5) == []


def test_query_keeps_the_top_k_across_many_batches(factory: sessionmaker[Session], monkeypatch) -> None:
    import aegis.ai.vectorstores.local as local

    monkeypatch.setattr(local, "_BATCH_ROWS", 7)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(60, DIM))
    LocalVectorStore(factory).upsert("t1", "a", [VectorItem(i, v.tolist(), 1, 1, "t") for i, v in enumerate(vectors)])
    query = rng.normal(size=DIM)

    matches = LocalVectorStore(factory).query("t1", query.tolist(), k=5)

    scores = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    assert [m.chunk_index for m in matches] == list(np.argsort(-scores)[:5])


def test_query_can_be_restricted_to_one_document(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(2))
    store.upsert("t1", "b", items(2))
    assert {m.document_id for m in store.query("t1", unit(0), k=10, document_id="b")} == {"b"}


def test_vectors_of_another_width_are_skipped_not_crashed_on(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(2))
    store.upsert("t1", "b", [VectorItem(0, [1.0] * 8, 1, 1, "t")])  # written by another provider
    assert {m.document_id for m in store.query("t1", unit(0), k=10)} == {"a"}


def test_a_zero_query_vector_matches_nothing(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(2))
    assert store.query("t1", [0.0] * DIM, k=3) == []


def test_delete_document_drops_only_that_documents_vectors(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(2))
    store.upsert("t1", "b", items(2))
    store.delete_document("t1", "a")
    assert set(embeddings(factory, "a").values()) == {None}
    assert {m.document_id for m in store.query("t1", unit(0), k=10)} == {"b"}


def test_delete_with_the_wrong_tenant_touches_nothing(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t1", "a", items(2))
    store.delete_document("t2", "a")
    assert None not in embeddings(factory, "a").values()


def test_upserting_into_another_tenants_document_is_refused(factory: sessionmaker[Session]) -> None:
    store = LocalVectorStore(factory)
    store.upsert("t2", "x", items(1))
    with pytest.raises(PermanentAIError) as caught:
        store.upsert("t1", "x", items(1))
    assert caught.value.code == "tenant_mismatch"


def test_get_vector_store_defaults_to_the_local_store(factory: sessionmaker[Session]) -> None:
    assert isinstance(get_vector_store(load_settings({}), factory), LocalVectorStore)


# -- search -------------------------------------------------------------------------------


@pytest.fixture
def indexed(factory: sessionmaker[Session]) -> tuple[sessionmaker[Session], LocalProvider, LocalVectorStore]:
    provider = LocalProvider(dimension=128)
    store = LocalVectorStore(factory)
    texts = {
        "a": ["Invoices are due within thirty days.", "The warranty covers parts and labour."],
        "b": ["Penguins live in the southern hemisphere.", "Invoices for penguin food are paid monthly."],
        "x": ["Secret merger plans of the other tenant: invoices due within thirty days."],
    }
    for doc, chunks in texts.items():
        tenant = "t2" if doc == "x" else "t1"
        vectors = provider.embed(chunks)
        store.upsert(
            tenant,
            doc,
            [VectorItem(i, v, i + 1, i + 1, t) for i, (t, v) in enumerate(zip(chunks, vectors, strict=True))],
        )
    return factory, provider, store


def test_search_returns_ranked_chunks_with_filename_pages_and_text(indexed) -> None:
    factory, provider, store = indexed
    with factory() as session:
        results = search(session, NO_FLOOR, provider, store, "t1", "invoices due within thirty days", k=3)
    assert results[0] == {
        "document_id": "a",
        "filename": "a.pdf",
        "page_start": 1,
        "page_end": 1,
        "score": pytest.approx(results[0]["score"]),
        "text": "Invoices are due within thirty days.",
    }
    assert len(results) == 3
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_search_never_returns_another_tenants_chunks(indexed) -> None:
    factory, provider, store = indexed
    with factory() as session:
        results = search(session, NO_FLOOR, provider, store, "t1", "secret merger plans of the other tenant", k=10)
    assert results and all(r["document_id"] in {"a", "b"} for r in results)


def test_search_drops_hits_a_store_returns_for_foreign_or_vanished_chunks(indexed) -> None:
    """A misbehaving store (stale Pinecone ids, a namespace mix-up) must not leak anything."""
    factory, provider, _store = indexed

    class LeakyStore:
        name = "leaky"

        def query(self, tenant_id, vector, k, document_id=None):  # noqa: ANN001, ANN202
            return [Match("x", 0, 0.99), Match("deleted", 0, 0.98), Match("a", 1, 0.5)]

    with factory() as session:
        results = search(session, NO_FLOOR, provider, LeakyStore(), "t1", "anything", k=10)  # type: ignore[arg-type]
    assert [(r["document_id"], r["text"]) for r in results] == [("a", "The warranty covers parts and labour.")]


def test_search_can_be_limited_to_one_document(indexed) -> None:
    factory, provider, store = indexed
    with factory() as session:
        results = search(session, None, provider, store, "t1", "invoices", k=10, document_id="b")
    assert {r["document_id"] for r in results} == {"b"}


@pytest.mark.parametrize("query", ["", "   ", None])
def test_an_empty_query_returns_nothing(indexed, query) -> None:  # noqa: ANN001
    factory, provider, store = indexed
    with factory() as session:
        assert search(session, None, provider, store, "t1", query, k=10) == []


def test_k_is_capped_and_respected(indexed) -> None:
    factory, provider, store = indexed
    with factory() as session:
        assert len(search(session, NO_FLOOR, provider, store, "t1", "invoices", k=1)) == 1
        assert search(session, NO_FLOOR, provider, store, "t1", "invoices", k=0) == []
        assert len(search(session, NO_FLOOR, provider, store, "t1", "invoices", k=10_000)) == 4
