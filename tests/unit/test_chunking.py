"""chunk_pages: structure-aware chunks with a size bound, overlap and page spans."""

from __future__ import annotations

import random
import re

import pytest

from aegis.formats.base import Page
from aegis.text.chunking import ChunkSpan, chunk_pages


def words(count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 9))) for _ in range(count)]


def vocabulary_of(pages: list[Page]) -> list[str]:
    return " ".join(page.text for page in pages).split()


def test_short_document_is_one_chunk_with_its_page() -> None:
    chunks = chunk_pages([Page(1, "Hello world. A short page.")])
    assert chunks == [ChunkSpan(0, "Hello world. A short page.", 1, 1)]


def test_empty_pages_give_no_chunks() -> None:
    assert chunk_pages([Page(1, ""), Page(2, "   \n\n  ")]) == []


@pytest.mark.parametrize(("max_chars", "overlap"), [(200, 0), (500, 100), (1500, 200), (100, 50)])
def test_every_chunk_respects_the_size_bound(max_chars: int, overlap: int) -> None:
    text = "\n\n".join(" ".join(words(80, seed)) for seed in range(20))
    chunks = chunk_pages([Page(1, text), Page(2, text)], max_chars, overlap)
    assert chunks
    assert all(len(chunk.text) <= max_chars for chunk in chunks)
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))


def test_words_are_never_split() -> None:
    page = Page(1, " ".join(words(2000)))
    vocabulary = set(page.text.split())
    for chunk in chunk_pages([page], 300, 60):
        assert set(chunk.text.split()) <= vocabulary


def test_all_text_is_covered_in_order() -> None:
    pages = [Page(1, " ".join(words(700, 1))), Page(2, " ".join(words(700, 2)))]
    chunks = chunk_pages(pages, 400, 0)
    assert " ".join(chunk.text for chunk in chunks).split() == vocabulary_of(pages)


def test_consecutive_chunks_overlap_by_whole_words() -> None:
    page = Page(1, " ".join(words(1500)))
    chunks = chunk_pages([page], 500, 100)
    assert len(chunks) > 3
    for previous, current in zip(chunks, chunks[1:], strict=False):
        head = current.text[:100].split()[:3]
        assert " ".join(head) in previous.text[-150:], "the next chunk starts with the previous chunk's tail"


def test_chunks_keep_their_page_span() -> None:
    pages = [Page(1, " ".join(words(100, 1))), Page(2, " ".join(words(100, 2))), Page(3, " ".join(words(100, 3)))]
    chunks = chunk_pages(pages, 2000, 0)
    assert chunks[0].page_start == 1
    assert chunks[-1].page_end == 3
    small = chunk_pages(pages, 300, 0)
    assert all(c.page_start <= c.page_end for c in small)
    assert {c.page_start for c in small} == {1, 2, 3}
    assert [c.page_start for c in small] == sorted(c.page_start for c in small)


def test_a_chunk_spanning_a_page_boundary_reports_both_pages() -> None:
    chunks = chunk_pages([Page(1, "End of the first page."), Page(2, "Start of the second page.")], 1000, 0)
    assert len(chunks) == 1
    assert (chunks[0].page_start, chunks[0].page_end) == (1, 2)


def test_markdown_headings_start_new_chunks() -> None:
    text = "# Introduction\n\nSome intro text.\n\n# Methods\n\nHow we did it.\n\n## Details\n\nMore."
    chunks = chunk_pages([Page(1, text)], 1500, 200)
    assert [c.text.split("\n", 1)[0] for c in chunks] == ["# Introduction", "# Methods", "## Details"]


def test_a_section_does_not_carry_the_previous_sections_tail() -> None:
    text = "# One\n\n" + " ".join(words(50)) + "\n\n# Two\n\nSecond section."
    chunks = chunk_pages([Page(1, text)], 1500, 200)
    assert chunks[1].text.startswith("# Two")


def test_paragraphs_stay_whole_when_they_fit() -> None:
    paragraphs = [" ".join(words(30, seed)) for seed in range(10)]
    chunks = chunk_pages([Page(1, "\n\n".join(paragraphs))], 600, 0)
    for chunk in chunks:
        for part in chunk.text.split("\n\n"):
            assert part in paragraphs


def test_long_paragraphs_split_at_sentence_ends() -> None:
    sentences = [f"Sentence number {i} says something {' '.join(words(8, i))}." for i in range(60)]
    chunks = chunk_pages([Page(1, " ".join(sentences))], 400, 0)
    assert len(chunks) > 1
    assert all(re.search(r"\.$", c.text) for c in chunks)


def test_a_single_word_longer_than_the_bound_is_cut_rather_than_dropped() -> None:
    blob = "x" * 1000
    chunks = chunk_pages([Page(1, blob)], 300, 50)
    assert "".join(c.text for c in chunks).count("x") >= 1000
    assert all(len(c.text) <= 300 for c in chunks)


def test_overlap_larger_than_half_the_bound_still_makes_progress() -> None:
    chunks = chunk_pages([Page(1, " ".join(words(500)))], 100, 500)
    assert 5 < len(chunks) < 200


def test_tiny_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        chunk_pages([Page(1, "text")], 10, 0)
