"""The default provider: everything on this machine, nothing downloaded, no cost.

Good enough to make a fresh install useful (search works, documents get a
summary, keywords, language and a label) and fast enough not to need its own
worker sizing. Usage is always zero, so budgets never stop it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aegis.ai.classify import classify
from aegis.ai.embeddings import Embedder, make_local_embedder
from aegis.ai.extractive import analysis_tokens, keywords, summarize
from aegis.ai.text import clean_text
from aegis.ai.types import Analysis, zero_usage
from aegis.text.language import detect_language


class LocalProvider:
    name = "local"

    def __init__(self, dimension: int = 384, embeddings: str = "hashing") -> None:
        self._embedder: Embedder = make_local_embedder(embeddings, dimension)
        self.dimension = self._embedder.dimension
        self.model = f"extractive+{self._embedder.model}"
        # Hashing vectors are lexical: their similarity means shared words, and a
        # chunk that shares none scores only hash and word-fragment noise. Search
        # uses this to hold such hits below its relevance floor.
        self.lexical = self._embedder.model.startswith("hashing")

    def analyze(self, text: str, labels: Sequence[str], *, token_limit: int | None = None) -> Analysis:
        text = clean_text(text)
        tokens = analysis_tokens(text)  # shared: the same words ranked twice
        return Analysis(
            summary=summarize(text, tokens=tokens),
            keywords=keywords(text, tokens=tokens),
            language=detect_language(text),
            classification=classify(text, labels),
            usage=zero_usage(),
            provider=self.name,
            model=self.model,
        )

    def embed(self, texts: list[str], *, usage: dict[str, int] | None = None) -> list[list[float]]:
        return self._embedder.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._embedder.embed([text])[0]

    def estimate_tokens(self, text: str) -> int:
        """Local work is free: budgets do not apply."""
        return 0
