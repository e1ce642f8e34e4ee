"""The AI layer: providers (local, openai) and vector stores (local, pinecone).

Pure modules with no Celery or Flask: the ai stage and the gateway build what they
need from Settings with :func:`get_provider` and :func:`get_vector_store`. Neither
opens a connection when called; clients are created on first use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.budget import check_budget, effective_budget, record_usage
from aegis.ai.errors import AIError, BudgetExceeded, PermanentAIError, TransientAIError
from aegis.ai.settings import ai_setting
from aegis.ai.types import Analysis, Match, Provider, VectorItem, VectorStore
from aegis.vocabulary import ErrorCode

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
]


def get_provider(settings: Any) -> Provider:
    """The provider named by ``AEGIS_AI_PROVIDER`` (``local`` or ``openai``)."""
    name = (getattr(settings, "ai_provider", "local") or "local").strip().lower()
    if name == "local":
        from aegis.ai.local import LocalProvider

        return LocalProvider(
            dimension=int(getattr(settings, "embedding_dim", 384)),
            embeddings=str(ai_setting(settings, "local_embeddings")),
        )
    if name == "openai":
        from aegis.ai.openai_provider import OpenAIProvider

        return OpenAIProvider.from_settings(settings)
    raise PermanentAIError(ErrorCode.AI_CONFIG, f"unknown AEGIS_AI_PROVIDER {name!r} (expected local or openai)")


def get_vector_store(settings: Any, session_factory: sessionmaker[Session]) -> VectorStore:
    """The store named by ``AEGIS_VECTOR_STORE`` (``local`` or ``pinecone``)."""
    name = (getattr(settings, "vector_store", "local") or "local").strip().lower()
    if name == "local":
        from aegis.ai.vectorstores.local import LocalVectorStore

        return LocalVectorStore(session_factory)
    if name == "pinecone":
        from aegis.ai.vectorstores.pinecone_store import PineconeVectorStore

        return PineconeVectorStore.from_settings(settings)
    raise PermanentAIError(ErrorCode.AI_CONFIG, f"unknown AEGIS_VECTOR_STORE {name!r} (expected local or pinecone)")
