"""AI: summary, keywords, language, classification, and chunk embeddings in the vector store.

Vectors are written during ``run`` (outside the database transaction) because a
remote store such as Pinecone is not part of our transaction anyway; upserts
replace a document's vectors, so a re-run never duplicates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aegis.ai import check_budget, get_provider, get_vector_store, record_usage
from aegis.ai.errors import PermanentAIError, TransientAIError
from aegis.ai.types import VectorItem, add_usage, zero_usage
from aegis.config import Settings
from aegis.formats.base import DocumentError
from aegis.persistence.db import session_factory
from aegis.persistence.models import Chunk, Document, PageText, Tenant
from aegis.pipeline.errors import TransientError
from aegis.pipeline.stage import DocumentView, Stage

# The analysis reads at most this much text; summaries of longer documents are
# map-reduced by providers that need it, within this bound.
MAX_ANALYSIS_CHARS = 400_000
EMBED_BATCH = 64


@dataclass
class AIInputs:
    text: str
    chunks: list[tuple[int, int, int, str]]  # index, page_start, page_end, text
    tenant: TenantBudget


@dataclass(frozen=True)
class TenantBudget:
    """The tenant's budget fields, detached from the session."""

    token_budget: int
    tokens_used: int


@dataclass
class AIResult:
    analysis: dict[str, Any]
    chunk_count: int
    usage: dict[str, int]


class AIStage(Stage["AIInputs", "AIResult"]):
    def load(self, session: Session, document: Document) -> AIInputs:
        return load_inputs(session, document)

    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: AIInputs) -> AIResult:
        return analyse(settings, doc, inputs)

    def save(self, session: Session, document: Document, result: AIResult) -> None:
        document.ai = result.analysis
        record_usage(session, document.tenant_id, result.usage)


def load_inputs(session: Session, document: Document) -> AIInputs:
    pages = session.scalars(
        select(PageText).where(PageText.document_id == document.id).order_by(PageText.number)
    ).all()
    text_parts: list[str] = []
    size = 0
    for page in pages:
        if size >= MAX_ANALYSIS_CHARS:
            break
        text_parts.append(page.text)
        size += len(page.text)
    chunks = session.execute(
        select(Chunk.index, Chunk.page_start, Chunk.page_end, Chunk.text)
        .where(Chunk.document_id == document.id)
        .order_by(Chunk.index)
    ).all()
    tenant = session.get(Tenant, document.tenant_id)
    return AIInputs(
        text="\n\n".join(text_parts)[:MAX_ANALYSIS_CHARS],
        chunks=[(row[0], row[1], row[2], row[3]) for row in chunks],
        tenant=TenantBudget(tenant.token_budget if tenant else 0, tenant.tokens_used if tenant else 0),
    )


def analyse(settings: Settings, doc: DocumentView, inputs: AIInputs) -> AIResult:
    provider = get_provider(settings)
    store = get_vector_store(settings, session_factory(settings))
    usage = zero_usage()
    try:
        # Refuse before spending: a paid provider estimates, the local one is free.
        left = check_budget(inputs.tenant, provider.estimate_tokens(inputs.text), settings)
        analysis = provider.analyze(inputs.text, settings.classification_labels, token_limit=left)
        add_usage(usage, analysis.usage)
        items: list[VectorItem] = []
        for start in range(0, len(inputs.chunks), EMBED_BATCH):
            batch = inputs.chunks[start:start + EMBED_BATCH]
            vectors = provider.embed([c[3] for c in batch], usage=usage)
            items.extend(
                VectorItem(chunk_index=c[0], vector=v, page_start=c[1], page_end=c[2], text=c[3])
                for c, v in zip(batch, vectors, strict=True)
            )
        store.upsert(doc.tenant_id, doc.id, items)
    except TransientAIError as exc:
        raise TransientError(str(exc), retry_after=exc.retry_after) from exc
    except PermanentAIError as exc:  # BudgetExceeded included; AI codes are all of kind "failed"
        raise DocumentError(exc.code, exc.message) from exc
    result = analysis.to_dict()
    result["usage"] = usage
    result["chunks"] = len(items)
    result["vector_store"] = settings.vector_store
    return AIResult(analysis=result, chunk_count=len(items), usage=usage)

