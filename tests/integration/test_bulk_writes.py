"""Page, chunk and vector rows are written in bulk and read back exactly, on PostgreSQL and SQLite.

A 619-page PDF makes ~1,700 chunks: the content stage and the local vector store
write them with bulk statements, not one ORM object per row. These tests check
that the bulk path keeps the contract: every row, in order, replaced (never
appended) on a re-run, vectors only where asked, on both databases Aegis runs on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.types import VectorItem
from aegis.ai.vectorstores.local import LocalVectorStore, from_bytes
from aegis.formats.base import Page
from aegis.persistence.models import Base, Chunk, Document, PageText, Tenant
from aegis.pipeline.stages.content import ContentResult, save_content
from aegis.text.chunking import ChunkSpan
from tests.harness import postgres_sessions

pytestmark = pytest.mark.integration

CHUNKS = 1_719  # DA-619p.pdf's count
PAGES = 619


@pytest.fixture(params=["postgresql", "sqlite"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
        Base.metadata.create_all(engine)
        yield sessionmaker(engine, expire_on_commit=False)
        engine.dispose()
        return
    with postgres_sessions() as factory:
        yield factory


def _document(factory: sessionmaker[Session]) -> Document:
    with factory() as session, session.begin():
        session.add(Tenant(id="t1", name="one"))
        session.flush()
        document = Document(id="d1", tenant_id="t1", filename="big.pdf", sha256="a" * 64, size=1)
        session.add(document)
    return document


def _content(run: int) -> ContentResult:
    pages = [Page(number=n, text=f"run {run} page {n} ünïcode ✓") for n in range(1, PAGES + 1)]
    chunks = [ChunkSpan(index=i, text=f"run {run} chunk {i}", page_start=i // 3 + 1, page_end=i // 3 + 2)
              for i in range(CHUNKS)]
    return ContentResult(pages=pages, chunks=chunks, language="en")


def _save(factory: sessionmaker[Session], result: ContentResult) -> None:
    with factory() as session, session.begin():
        document = session.get(Document, "d1")
        assert document is not None
        save_content(session, document, result)


def test_pages_and_chunks_round_trip_in_bulk_and_a_rerun_replaces_them(factory: sessionmaker[Session]) -> None:
    _document(factory)
    _save(factory, _content(1))
    _save(factory, _content(2))  # a reprocess: replaced, never appended
    with factory() as session:
        pages = session.execute(select(PageText.number, PageText.text, PageText.ocr).order_by(PageText.number)).all()
        chunks = session.execute(
            select(Chunk.index, Chunk.tenant_id, Chunk.page_start, Chunk.page_end, Chunk.text, Chunk.embedding)
            .order_by(Chunk.index)
        ).all()
        metadata = session.get(Document, "d1").doc_metadata  # type: ignore[union-attr]
    assert [tuple(p) for p in pages] == [(n, f"run 2 page {n} ünïcode ✓", False) for n in range(1, PAGES + 1)]
    assert [tuple(c) for c in chunks] == [
        (i, "t1", i // 3 + 1, i // 3 + 2, f"run 2 chunk {i}", None) for i in range(CHUNKS)
    ]
    assert metadata == {"language": "en", "pages": PAGES}


def test_vectors_are_written_back_in_bulk_and_stale_ones_cleared(factory: sessionmaker[Session]) -> None:
    _document(factory)
    _save(factory, _content(1))
    store = LocalVectorStore(factory)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((CHUNKS + 2, 8)).astype(np.float32)
    # Every chunk the content stage wrote, plus two the store must create itself.
    items = [VectorItem(chunk_index=i, vector=vectors[i].tolist(), page_start=1, page_end=1, text=f"extra {i}")
             for i in range(CHUNKS + 2)]
    store.upsert("t1", "d1", items)
    with factory() as session:
        rows = session.execute(select(Chunk.index, Chunk.text, Chunk.embedding).order_by(Chunk.index)).all()
    assert len(rows) == CHUNKS + 2
    assert all(np.array_equal(from_bytes(row.embedding), vectors[row.index]) for row in rows)
    assert rows[5].text == "run 1 chunk 5" and rows[CHUNKS].text == f"extra {CHUNKS}"  # content's text kept

    store.upsert("t1", "d1", items[:10])  # a re-run that embeds fewer chunks: the rest lose their vectors
    with factory() as session:
        with_vector = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.embedding.is_not(None)))
        first = session.scalar(select(Chunk.embedding).where(Chunk.index == 3))
    assert with_vector == 10
    assert first is not None and np.array_equal(from_bytes(first), vectors[3])
