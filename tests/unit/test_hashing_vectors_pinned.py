"""The hashing embedder's vectors are pinned: stored vectors stay comparable.

``data/hashing_vectors.json`` holds the vectors the original (pure-Python
aggregation) implementation produced for a few texts, at two dimensions (64
forces hash collisions). Any optimisation of the embedder must reproduce them
bit for bit, or every vector already in a store would silently drift from new
queries' vectors.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from aegis.ai.embeddings import HashingEmbedder

PINNED = json.loads((Path(__file__).parent / "data" / "hashing_vectors.json").read_text(encoding="utf-8"))


def _dense(entries: list[list[float]], dim: int) -> np.ndarray:
    out = np.zeros(dim, dtype=np.float32)
    for index, value in entries:
        out[int(index)] = np.float32(value)
    return out


@pytest.mark.parametrize("dim", sorted(PINNED["vectors"], key=int))
def test_vectors_equal_the_pinned_ones_bit_for_bit(dim: str) -> None:
    embedder = HashingEmbedder(int(dim))
    for text, entries in zip(PINNED["texts"], PINNED["vectors"][dim], strict=True):
        expected = _dense(entries, int(dim))
        got = embedder.vector(text)
        assert got.dtype == np.float32
        assert got.tobytes() == expected.tobytes(), text[:60]


def test_embedding_a_batch_equals_embedding_one_text_at_a_time() -> None:
    embedder = HashingEmbedder(384)
    texts = PINNED["texts"]
    assert embedder.embed(texts) == [embedder.vector(t).tolist() for t in texts]


def test_stripping_marks_agrees_with_unicodedata_on_every_code_point() -> None:
    from aegis.ai.text import strip_marks

    everything = "".join(chr(code) for code in range(sys.maxunicode + 1) if not 0xD800 <= code <= 0xDFFF)
    expected = "".join(ch for ch in everything if not unicodedata.combining(ch))
    assert strip_marks(everything) == expected  # every character is new here
    assert strip_marks(everything) == expected  # and known the second time


@pytest.mark.parametrize("text", [
    "Plain ASCII, Mixed CASE.", "Résumé NAÏVE ﬁnance", "Straße ΣΊΣΥΦΟΣ", "e\u0301\u0327x",
])
def test_fold_is_casefold_without_marks(text: str) -> None:
    from aegis.ai.text import fold

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    expected = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))
    assert fold(text) == expected


def test_vectors_stay_the_same_when_the_feature_table_starts_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    from aegis.ai import embeddings

    monkeypatch.setattr(embeddings, "_TABLE_LIMIT", 50)  # a fresh table before nearly every text
    monkeypatch.setattr(embeddings, "_TABLES", {})
    embedder = HashingEmbedder(64)
    tables: list[object] = []  # kept alive, so identities cannot be reused
    for text, entries in zip(PINNED["texts"], PINNED["vectors"]["64"], strict=True):
        assert embedder.vector(text).tobytes() == _dense(entries, 64).tobytes()
        table = embeddings._TABLES.get(64)
        if not any(t is table for t in tables):
            tables.append(table)
    assert len(tables) > 2  # the table was replaced along the way
