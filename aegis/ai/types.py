"""The data passed between the ai stage, the providers and the vector stores.

Kept free of SDK types so the stage, the gateway and the tests can depend on these
without importing ``openai``, ``pinecone`` or numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


def zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def add_usage(total: dict[str, int], more: dict[str, int] | None) -> dict[str, int]:
    """Accumulate token counts in place (and return ``total`` for chaining)."""
    if more:
        for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
            total[key] = int(total.get(key, 0)) + int(more.get(key, 0) or 0)
    return total


@dataclass
class Analysis:
    """What the ai stage stores in ``documents.ai``."""

    summary: str
    keywords: list[str]
    language: str | None
    classification: dict[str, Any] | None
    usage: dict[str, int] = field(default_factory=zero_usage)
    provider: str = "local"
    model: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VectorItem:
    """One chunk's vector plus what a store needs to show or filter it later."""

    chunk_index: int
    vector: Sequence[float]
    page_start: int
    page_end: int
    text: str


@dataclass(frozen=True)
class Match:
    """A search hit: which chunk, and its cosine similarity to the query."""

    document_id: str
    chunk_index: int
    score: float


@runtime_checkable
class Provider(Protocol):
    """What the ai stage and the search endpoint need from an AI provider."""

    name: str
    dimension: int

    def analyze(self, text: str, labels: Sequence[str], *, token_limit: int | None = None) -> Analysis: ...

    def embed(self, texts: list[str], *, usage: dict[str, int] | None = None) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...

    def estimate_tokens(self, text: str) -> int: ...


@runtime_checkable
class VectorStore(Protocol):
    """Per-tenant vector storage; every method is scoped by ``tenant_id``."""

    name: str

    def upsert(self, tenant_id: str, document_id: str, items: list[VectorItem]) -> None: ...

    def delete_document(self, tenant_id: str, document_id: str) -> None: ...

    def query(self, tenant_id: str, vector: Sequence[float], k: int, document_id: str | None = None) -> list[Match]: ...
