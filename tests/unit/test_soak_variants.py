"""The soak's document variants: every one distinct, every one still the file it was.

bench/soak.py sends 1,000 variants of the corpus; if a variant stopped parsing (or
parsed as another type) the soak would measure rejections, not the pipeline.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from aegis.formats import DocumentError, Limits, extract_pages, validate
from bench.variants import soak_sources, variants, vary
from tests.corpus import CORPUS

# One file per way of varying (PDF update, ZIP comment, OLE sector, e-mail header,
# JSON member, RTF group, CSV row, markup comment, UTF-16 text, blank file).
SAMPLES = [
    "pdf/pdflatex-4-pages.pdf", "pdf/password.pdf", "office/simple.docx", "office/simple.odt",
    "office/language-docs__eng_spa_mult.ppt", "email/fake-email.eml", "email/eml__fake-email-utf-16.eml",
    "text/simple.json", "office/fake-doc.rtf", "text/stanley-cups.csv", "text/fake-html.html",
    "text/fake-text-utf-16.txt", "text/fake-text-all-whitespace.txt",
]


def _outcome(path: Path, name: str) -> tuple[str, ...]:
    limits = Limits()
    try:
        detection = validate(path, name, limits)
        pages = extract_pages(path, detection, limits)
    except DocumentError as exc:
        return ("rejected", str(exc.code))
    return (detection.family, detection.mime, str(len(pages)))


@pytest.mark.parametrize("sample", SAMPLES)
def test_a_variant_differs_from_the_original_and_from_other_variants_but_parses_the_same(
    sample: str, tmp_path: Path
) -> None:
    source = CORPUS / sample
    if not source.exists():
        pytest.skip(f"{sample} is not in this corpus")
    data = source.read_bytes()
    one, two = vary(source.name, data, 1), vary(source.name, data, 2)
    assert len({hashlib.sha256(b).hexdigest() for b in (data, one, two)}) == 3
    copy = tmp_path / source.name
    copy.write_bytes(one)
    assert _outcome(copy, source.name) == _outcome(source, source.name)


def test_a_soak_never_sends_the_same_bytes_twice(tmp_path: Path) -> None:
    (tmp_path / "text").mkdir()
    for name in ("a.txt", "b.md"):
        (tmp_path / "text" / name).write_text("some text\n")
    sources = soak_sources(tmp_path)
    assert [p.name for p in sources] == ["a.txt", "b.md"]
    sent = list(variants(sources, 50))
    assert len({hashlib.sha256(data).hexdigest() for _, data in sent}) == 50
    assert len({name for name, _ in sent}) == 50
