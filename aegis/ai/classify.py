"""Zero-shot classification against configurable labels, without a model.

Each label is described by cue words and phrases (``re:`` marks a regular
expression, for structure such as mail headers). The default labels ship with
hand-written cues; a label we have never heard of is described by its own words
(and their stems), which is what "zero-shot" can honestly mean without a model.
Scores are a softmax over cue evidence, so they sum to one across the labels and
say how clearly one label won. A document with no evidence for anything is
``other`` when that label is configured, and unclassified otherwise.
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence

from aegis.ai.text import fold, tokenize

CUES: dict[str, tuple[str, ...]] = {
    "invoice": (
        "invoice",
        "invoice number",
        "bill to",
        "amount due",
        "total due",
        "subtotal",
        "vat",
        "tax",
        "due date",
        "payment terms",
        "unit price",
        "qty",
        "remit",
        "balance due",
    ),
    "contract": (
        "agreement",
        "contract",
        "party",
        "parties",
        "hereby",
        "whereas",
        "shall",
        "terms",
        "conditions",
        "termination",
        "liability",
        "governing law",
        "obligations",
        "signature",
        "effective date",
        "indemnify",
        "clause",
    ),
    "report": (
        "report",
        "annual report",
        "quarterly",
        "findings",
        "analysis",
        "results",
        "fiscal",
        "revenue",
        "summary",
        "performance",
        "securities",
        "commission",
        "filing",
        "audit",
    ),
    "scientific paper": (
        "abstract",
        "introduction",
        "related work",
        "method",
        "methods",
        "experiments",
        "results",
        "conclusion",
        "references",
        "et al",
        "university",
        "dataset",
        "proposed",
        "arxiv",
        "doi",
        "evaluation",
        "model",
        "paper",
    ),
    "letter": (
        "dear",
        "sincerely",
        "regards",
        "yours",
        "letter",
        "to whom it may concern",
        "enclosed",
        "faithfully",
    ),
    "form": (
        "form",
        "name",
        "date of birth",
        "birthday",
        "signature",
        "please fill",
        "check",
        "gender",
        "nationality",
        "address",
        "applicant",
        "first name",
        "last name",
    ),
    "presentation": ("slide", "slides", "presentation", "agenda", "overview", "thank you", "questions"),
    "manual": (
        "manual",
        "handbook",
        "guide",
        "instructions",
        "step",
        "procedure",
        "install",
        "installation",
        "chapter",
        "warning",
        "note",
        "section",
    ),
    "email": (
        r"re:(?m)^\s*(?:from|to|cc|bcc|subject|sent|date|reply-to)\s*:",
        r"re:\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b",
        "wrote",
        "forwarded message",
        "email",
        "e-mail",
        "mime-version",
        "content-type",
        "unsubscribe",
    ),
}
FALLBACK_LABEL = "other"
# Softmax temperature: evidence differences of ~2 cue hits read as a clear win.
_TEMPERATURE = 1.5


def _cues_for(label: str) -> tuple[str, ...]:
    known = CUES.get(fold(label).strip())
    if known:
        return known
    words = [w for w in tokenize(label) if len(w) > 2]
    return tuple(dict.fromkeys([fold(label).strip(), *words]))


def _count(phrase: str, tokens: Counter[str], folded_text: str, ordered: list[str]) -> int:
    """Hits of one cue; ``ordered`` is ``sorted(tokens)``, for prefix lookups."""
    if phrase.startswith("re:"):
        return min(50, sum(1 for _ in re.finditer(phrase[3:], folded_text)))
    if " " in phrase:
        # The pattern matches the phrase itself: a substring test (C, no regex engine)
        # settles most cues, which a document does not contain at all.
        if phrase not in folded_text:
            return 0
        return len(re.findall(r"\b" + re.escape(phrase) + r"\b", folded_text))
    count = tokens.get(phrase, 0)
    if count == 0 and len(phrase) >= 6:
        # Cheap stemming for unknown labels: "contracts", "contractual". The tokens
        # starting with the stem are one run of the sorted list, not a scan of all.
        stem = phrase[:-2]
        for token in itertools.islice(ordered, bisect.bisect_left(ordered, stem), None):
            if not token.startswith(stem):
                break
            count += tokens[token]
    return count


def classify(text: str, labels: Sequence[str], max_chars: int = 200_000) -> dict[str, object] | None:
    labels = [label for label in labels if label and label.strip()]
    if not labels:
        return None
    sample = text[:max_chars]
    folded_text = fold(sample)
    tokens = Counter(tokenize(sample))
    if not tokens:
        # No words, no evidence: "other" with full confidence would be invented.
        return None
    size = max(1.0, math.log10(sum(tokens.values()) + 10))
    ordered = sorted(tokens)
    evidence: dict[str, float] = {}
    for label in labels:
        if fold(label) == FALLBACK_LABEL:
            continue
        hits = [_count(cue, tokens, folded_text, ordered) for cue in _cues_for(label)]
        # Distinct cues matter more than one cue repeated; long documents
        # accumulate hits by length alone, hence the size damping.
        evidence[label] = (sum(math.log1p(h) for h in hits) + sum(1 for h in hits if h)) / size
    if not evidence or max(evidence.values()) <= 0.0:
        for label in labels:
            if fold(label) == FALLBACK_LABEL:
                return {"label": label, "score": 1.0}
        return None
    fallback = next((lab for lab in labels if fold(lab) == FALLBACK_LABEL), None)
    if fallback is not None:
        evidence[fallback] = 1.2  # the bar a real label has to clear (about two cues)
    peak = max(evidence.values())
    exps = {label: math.exp((value - peak) * _TEMPERATURE) for label, value in evidence.items()}
    total = sum(exps.values())
    best = max(exps, key=lambda label: exps[label])
    return {"label": best, "score": round(exps[best] / total, 4)}
