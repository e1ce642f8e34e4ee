"""Semantic search over one tenant's chunks: embed the query, rank, join the text.

The vector store ranks; PostgreSQL (the record of truth) supplies filename, pages
and text, joined on ``tenant_id`` again. So even a store that returned a foreign or
stale id (a Pinecone namespace mix-up, a document deleted a moment ago) cannot leak
another tenant's text or show a vanished document: such hits are dropped.

A store always returns its k nearest chunks, however far they are, so without a
floor a word that is in no document still "finds" ten chunks. Hits scoring below
``AEGIS_SEARCH_MIN_SCORE`` are therefore not results, and nothing found is an empty
list. With a lexical embedder (the local hashing one) a chunk that shares no word
with the query counts as scoring zero: its cosine is only collisions between
hashed word fragments, which on short chunks can outscore real matches, so no
single threshold on the cosine alone separates the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from aegis.ai.stopwords import is_stopword
from aegis.ai.text import tokenize
from aegis.ai.types import Provider, VectorStore
from aegis.config import DEFAULT_SEARCH_MIN_SCORE, Settings
from aegis.persistence.models import Chunk, Document

MAX_QUERY_CHARS = 2_000
MAX_K = 100
# Ask the store for a few more than k so dropped (stale) hits do not shrink the page.
_OVERFETCH = 5
# A lexical embedder ranks short chunks that share only word fragments above long
# ones that hold the word; ask for this many so the word check can reach the latter.
_LEXICAL_FETCH = 200
# The shortest stem two words must share to count as the same word (inflections,
# which the hashing embedder's word fragments catch too).
_STEM_CHARS = 5


def search(
    session: Session,
    settings: Settings | None,
    provider: Provider,
    store: VectorStore,
    tenant_id: str,
    q: str,
    k: int = 10,
    document_id: str | None = None,
) -> list[dict[str, Any]]:
    """Top ``k`` chunks of ``tenant_id``'s documents for the query ``q``.

    Each result is ``{"document_id", "filename", "page_start", "page_end", "score",
    "text"}``, best first, none below the relevance floor (``settings.search_min_score``;
    the default when ``settings`` is None).
    """
    query = (q or "").strip()[:MAX_QUERY_CHARS]
    k = max(0, min(int(k), MAX_K))
    if not query or k == 0 or not tenant_id:
        return []
    lexical = bool(getattr(provider, "lexical", False))
    vector = provider.embed_query(query)
    fetch = max(k + _OVERFETCH, _LEXICAL_FETCH) if lexical else k + _OVERFETCH
    matches = store.query(tenant_id, vector, fetch, document_id=document_id)
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
    floor = settings.search_min_score if settings is not None else DEFAULT_SEARCH_MIN_SCORE
    terms = _query_terms(query) if lexical else None
    results: list[dict[str, Any]] = []
    for match in matches:
        row = by_key.get((match.document_id, match.chunk_index))
        if row is None:
            continue
        score = float(match.score)
        if terms is not None and not _shares_a_word(terms, row.text):
            score = 0.0
        if floor > 0 and score < floor:
            continue
        results.append(
            {
                "document_id": row.document_id,
                "filename": row.filename,
                "page_start": row.page_start,
                "page_end": row.page_end,
                "score": round(score, 6),
                "text": row.text,
            }
        )
        if len(results) == k:
            break
    return results


def _query_terms(query: str) -> set[str]:
    """The query's content words (all its words if every one is a stopword), folded."""
    words = set(tokenize(query))  # folded already
    content = {w for w in words if not is_stopword(w)}
    return content or words


def _shares_a_word(terms: set[str], text: str) -> bool:
    """Whether ``text`` has one of ``terms``, or a word sharing all but its last few letters.

    The stem is long enough that "photosynthesis" does not meet "photograph", short
    enough that "retrieval" meets "retrieve".
    """
    stems = {t[:max(_STEM_CHARS, len(t) - 3)] for t in terms}
    for word in set(tokenize(text)):
        if word in terms or any(word.startswith(stem) for stem in stems):
            return True
    return False
