"""The AI layer: providers (local, openai) and vector stores (local, pinecone).

Pure modules with no Celery or Flask: the ai stage and the gateway build what they
need from Settings with :func:`get_provider` and :func:`get_vector_store`. Neither
opens a connection when called; clients are created on first use.
"""

from __future__ import annotations

import os
from typing import assert_never

from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.budget import check_budget, effective_budget, record_usage
from aegis.ai.errors import AIError, BudgetExceeded, PermanentAIError, TransientAIError
from aegis.ai.types import Analysis, Match, Provider, VectorItem, VectorStore
from aegis.config import Settings

__all__ = [
    "AIError",
    "Analysis",
    "BudgetExceeded",
    "Match",
    "PermanentAIError",
    "Provider",
    "TransientAIError",
    "VectorItem",
    "VectorStore",
    "check_budget",
    "effective_budget",
    "get_provider",
    "get_vector_store",
    "record_usage",
    "worker_provider",
]

#: Providers kept for the life of the process, by (pid, settings object).
_providers: dict[tuple[int, int], tuple[Settings, Provider]] = {}
_MAX_KEPT = 8


def get_provider(settings: Settings) -> Provider:
    """The provider named by ``AEGIS_AI_PROVIDER``.

    ``load_settings`` has already refused unknown names and missing keys, so this
    cannot fail on configuration; ``assert_never`` makes mypy point here when a
    provider is added to ``AIProviderName`` but not built.
    """
    if settings.ai_provider == "local":
        from aegis.ai.local import LocalProvider

        return LocalProvider(dimension=settings.embedding_dim, embeddings=settings.local_embeddings)
    if settings.ai_provider == "openai":
        from aegis.ai.openai_provider import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    assert_never(settings.ai_provider)


def worker_provider(settings: Settings) -> Provider:
    """The provider for ``settings``, built once per process and reused by every task.

    Building one is not free: MiniLM loads its weights, OpenAI's client opens a
    connection pool that keep-alive should reuse. Keyed by the settings object
    itself (a worker loads its settings once), and per process, so a forked child
    never inherits its parent's sockets.
    """
    key = (os.getpid(), id(settings))
    kept = _providers.get(key)
    if kept is None or kept[0] is not settings:
        if len(_providers) >= _MAX_KEPT:  # settings made per call (tests, extract): stay bounded
            _providers.clear()
        kept = _providers[key] = (settings, get_provider(settings))
    return kept[1]


def get_vector_store(settings: Settings, session_factory: sessionmaker[Session]) -> VectorStore:
    """The store named by ``AEGIS_VECTOR_STORE`` (validated by ``load_settings``)."""
    if settings.vector_store == "local":
        from aegis.ai.vectorstores.local import LocalVectorStore

        return LocalVectorStore(session_factory)
    if settings.vector_store == "pinecone":
        from aegis.ai.vectorstores.pinecone_store import PineconeVectorStore

        return PineconeVectorStore.from_settings(settings)
    assert_never(settings.vector_store)
