"""Text hygiene applied to untrusted documents and to model output."""

from __future__ import annotations

from aegis.ai.text import clean_text, find_urls, sanitize_model_text, split_sentences, strip_unseen_urls, tokenize
from aegis.ai.tokens import estimate_tokens, split_by_tokens


def test_bidi_overrides_zero_width_and_control_characters_are_removed() -> None:
    hidden = "pay\u202e\u2066 to\u200b acc\u200dount\u0007 42\ufeff"
    assert clean_text(hidden) == "pay to account  42"


def test_pdf_hyphenation_points_rejoin_words_split_across_lines() -> None:
    assert clean_text("effi\ufffe\r\ncient retrieval") == "efficient retrieval"
    assert clean_text("soft\u00adhyphen") == "softhyphen"


def test_ligatures_and_full_width_forms_are_normalised() -> None:
    assert clean_text("ﬁnance ＡＢＣ") == "finance ABC"


def test_tokens_are_folded_for_case_and_accents() -> None:
    assert tokenize("Résumé des REQUÊTES, don't") == ["resume", "des", "requetes", "don't"]


def test_wrapped_pdf_lines_are_rejoined_but_headings_stay_apart() -> None:
    text = "Introduction\nThe retriever selects\npassages from the corpus. It is fast.\n"
    assert split_sentences(text) == ["Introduction", "The retriever selects passages from the corpus.", "It is fast."]


def test_urls_not_in_the_source_are_stripped_and_the_rest_kept() -> None:
    source = "Report at https://example.com/q3 and docs.python.org/3/."
    text = "See https://example.com/q3, https://evil.example.net/x and www.phish.io. Also docs.python.org/3/."
    assert strip_unseen_urls(text, source) == "See https://example.com/q3, and . Also docs.python.org/3/."


def test_bare_domains_and_links_are_recognised() -> None:
    assert find_urls("go to evil.com/reset or http://x.org/a?b=1.") == ["evil.com/reset", "http://x.org/a?b=1"]


def test_model_text_is_cleaned_and_capped() -> None:
    out = sanitize_model_text("word " * 100 + "https://made.up/link", source="", max_chars=50)
    assert len(out) <= 51 and out.endswith("…") and "made.up" not in out


def test_token_estimates_are_pessimistic_for_non_latin_scripts() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("a" * 350) == 100
    assert estimate_tokens("漢字" * 50) == 100


def test_splitting_by_tokens_covers_the_text_in_order_at_paragraph_ends() -> None:
    text = "\n\n".join(f"Paragraph {i}. " + "word " * 50 for i in range(20))
    pieces = split_by_tokens(text, 200)
    assert "".join(pieces) == text
    assert all(estimate_tokens(p) <= 200 for p in pieces)
    assert all(p.endswith("\n\n") for p in pieces[:-1])
