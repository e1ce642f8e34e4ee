"""AI: summary, keywords, language, classification, and chunk embeddings in the vector store.

Vectors are written during ``run`` (outside the database transaction) because a
remote store such as Pinecone is not part of our transaction anyway; upserts
replace a document's vectors, so a re-run never duplicates them.

A document without text (a scan read with OCR off) is not sent to a provider: a
summary, keywords and a label of nothing would be invented, and the local
classifier used to answer "other" with full confidence. Its analysis says
plainly that there was nothing to read, and the pages without text are listed
in the document's ``warnings`` as ``no_text_layer``, the last point where the
text of every page, OCR's included, is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aegis.ai import check_budget, get_vector_store, record_usage, worker_provider
from aegis.ai.errors import PermanentAIError, TransientAIError
from aegis.ai.types import VectorItem, add_usage, zero_usage
from aegis.config import Settings
from aegis.formats.base import DocumentError
from aegis.persistence.db import session_factory
from aegis.persistence.models import Chunk, Document, PageText, Tenant
from aegis.pipeline.errors import TransientError
from aegis.pipeline.stage import DocumentView, Stage
from aegis.vocabulary import ErrorCode

#: Families whose pages can lack a text layer (scans): the ones OCR reads.
SCANNABLE_FAMILIES = ("pdf", "image")

# The analysis reads at most this much text; summaries of longer documents are
# map-reduced by providers that need it, within this bound.
MAX_ANALYSIS_CHARS = 400_000
EMBED_BATCH = 64


@dataclass
class AIInputs:
    text: str
    chunks: list[tuple[int, int, int, str]]  # index, page_start, page_end, text
    tenant: TenantBudget
    #: Pages with no text that OCR did not read (nor try and fail on: those have ocr_error warnings).
    pages_without_text: list[int] = field(default_factory=list)
    page_count: int = 0
    #: The document's own OCR option from its upload (``off``, ``auto``, ``always``), if any.
    ocr_mode: str | None = None


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
    warnings: list[dict[str, Any]] = field(default_factory=list)


class AIStage(Stage["AIInputs", "AIResult"]):
    reads_file = False  # the text comes from the content and OCR stages' rows

    def load(self, session: Session, document: Document) -> AIInputs:
        return load_inputs(session, document)

    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: AIInputs) -> AIResult:
        return analyse(settings, doc, inputs)

    def save(self, session: Session, document: Document, result: AIResult) -> None:
        document.ai = result.analysis
        # Keep other stages' warnings (OCR's); replace this stage's own, so a re-run has one copy.
        kept = [w for w in document.warnings or [] if w.get("code") != ErrorCode.NO_TEXT_LAYER]
        document.warnings = [*kept, *result.warnings] or None
        record_usage(session, document.tenant_id, result.usage)


def load_inputs(session: Session, document: Document) -> AIInputs:
    """What the stage needs, as plain rows: three Core SELECTs of the needed columns.

    A 619-page PDF has 619 page rows and ~1,700 chunk rows; ORM objects for them
    (identity map, attribute state) cost more CPU than the text they carry, and
    ``run`` only needs tuples.
    """
    pages = session.execute(
        select(PageText.number, PageText.text, PageText.ocr, PageText.ocr_error)
        .where(PageText.document_id == document.id)
        .order_by(PageText.number)
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
    tenant = session.execute(
        select(Tenant.token_budget, Tenant.tokens_used).where(Tenant.id == document.tenant_id)
    ).first()
    scannable = document.family in SCANNABLE_FAMILIES
    return AIInputs(
        text="\n\n".join(text_parts)[:MAX_ANALYSIS_CHARS],
        chunks=[(row[0], row[1], row[2], row[3]) for row in chunks],
        tenant=TenantBudget(tenant[0], tenant[1]) if tenant else TenantBudget(0, 0),
        pages_without_text=[
            p.number for p in pages if scannable and not p.text.strip() and not p.ocr and not p.ocr_error
        ],
        page_count=len(pages),
        ocr_mode=(document.options or {}).get("ocr"),
    )


def no_text_warnings(settings: Settings, inputs: AIInputs) -> list[dict[str, Any]]:
    """``no_text_layer`` when pages have no text and OCR did not read them.

    With OCR off, any such page is worth saying (it is probably a scan). With OCR
    on, OCR skipped those pages as blank, so only a document with no text at all
    is worth a warning: there was nothing to summarise or search.
    """
    pages = inputs.pages_without_text
    if not pages:
        return []
    ocr_off = (inputs.ocr_mode or settings.ocr.mode) == "off"
    if not ocr_off and len(pages) < inputs.page_count:
        return []
    shown = ", ".join(str(n) for n in pages[:20]) + (", …" if len(pages) > 20 else "")
    why = "OCR is off" if ocr_off else "OCR found nothing to read"
    return [{
        "code": ErrorCode.NO_TEXT_LAYER,
        "pages": pages[:1000],
        "message": f"{len(pages)} of {inputs.page_count} pages have no text layer and {why} "
                   f"(pages {shown}); their text is empty.",
    }]


def empty_analysis(provider_name: str, model: str) -> dict[str, Any]:
    """What the AI stage records for a document without text: nothing, said plainly."""
    return {
        "summary": "",
        "keywords": [],
        "language": None,
        "classification": None,
        "usage": zero_usage(),
        "provider": provider_name,
        "model": model,
        "empty_text": True,
        "chunks": 0,
    }


def analyse(settings: Settings, doc: DocumentView, inputs: AIInputs) -> AIResult:
    warnings = no_text_warnings(settings, inputs)
    provider = worker_provider(settings)
    if not inputs.text.strip():
        result = empty_analysis(provider.name, str(getattr(provider, "model", "")))
        result["vector_store"] = settings.vector_store
        return AIResult(analysis=result, chunk_count=0, usage=zero_usage(), warnings=warnings)
    # The vectors commit without waiting for the WAL flush: the AI stage's finish,
    # which ends the document, is durable and comes after, and a durable commit
    # flushes every earlier one. A crash in between loses the finish too, and the
    # reconciler re-runs the stage, whose upsert replaces the document's vectors.
    store = get_vector_store(settings, session_factory(settings, durable=False))
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
    return AIResult(analysis=result, chunk_count=len(items), usage=usage, warnings=warnings)

