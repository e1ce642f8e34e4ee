"""Every real document in the shared corpus succeeds or is rejected for its real reason.

The corpus (../shared/corpus, see its README) holds files nobody on this project
wrote, some broken on purpose upstream. Each one goes through the same calls the
pipeline makes, in process. A file listed in REJECTED must fail with exactly that
code; every other file must succeed with clean, JSON-serialisable output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aegis.formats import DocumentError, Limits, extract_metadata, extract_pages, validate
from tests.corpus import CORPUS as CORPUS_ROOT

CORPUS = CORPUS_ROOT
FOLDERS = ("pdf", "office", "email", "text")

# file -> the code that names why it cannot be processed
REJECTED = {
    "pdf/password.pdf": "encrypted",
    "pdf/libreoffice-writer-password.pdf": "encrypted",
    # Both pypdf and PDFium fail on its page tree ("Invalid object in /Pages").
    "pdf/unreadablemetadata.pdf": "malformed",
    "text/fake-text-all-whitespace.txt": "empty_file",
    "email/eml__empty.eml": "empty_file",
}
# Files we know carry text; an empty extraction there is a regression.
MUST_HAVE_TEXT = {
    "pdf/DA-619p.pdf": "",
    "pdf/korean-text-with-tables.pdf": "",
    "office/simple.docx": "",
    "office/fake-power-point.pptx": "",
    "office/fake.doc": "Lorem ipsum dolor sit amet.",
    "office/duplicate-paragraphs.doc": "This document contains duplicates",
    "office/language-docs__eng_spa_mult.ppt": "Todos los seres humanos",
    "office/winter-sports.epub": "Switzerland",
    "office/simple.odt": "",
    "office/fake-doc.rtf": "",
    "email/fake-email-with-cc-and-bcc.msg": "test email",
    "text/fake-text-utf-16-le.txt": "This is a test document",
    "text/factbook-utf-16.xml": "United States",
}


def corpus_files() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(
        str(path.relative_to(CORPUS)) for folder in FOLDERS for path in (CORPUS / folder).glob("*") if path.is_file()
    )


FILES = corpus_files()
pytestmark = pytest.mark.skipif(not FILES, reason="shared corpus not present")


def test_rejection_table_names_files_that_exist() -> None:
    missing = [name for name in REJECTED if name not in FILES]
    assert not missing


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_succeeds_or_is_rejected_for_its_real_reason(name: str, tmp_path: Path) -> None:
    # The pipeline reads content-addressed blobs with no extension; a link named
    # like one makes sure no library here decides anything by the file's suffix.
    path = tmp_path / "blob"
    path.symlink_to(CORPUS / name)
    limits = Limits()
    try:
        detection = validate(path, Path(name).name, limits)
        metadata = extract_metadata(path, detection, limits)
        pages = extract_pages(path, detection, limits)
    except DocumentError as exc:
        assert REJECTED.get(name) == exc.code, f"{name}: unexpected rejection {exc.code}: {exc.message}"
        return
    assert name not in REJECTED, f"{name} should have been rejected with {REJECTED.get(name)}"

    encoded = json.dumps(metadata)  # JSON-serialisable: no bytes, no datetimes
    assert "\\u0000" not in encoded
    assert isinstance(metadata["pages"], int) and metadata["pages"] >= 1
    assert ("email" if detection.family == "msg" else detection.family) in metadata
    assert [page.number for page in pages] == list(range(1, len(pages) + 1))
    assert all("\0" not in page.text for page in pages)
    if name in MUST_HAVE_TEXT:
        text = "\n".join(page.text for page in pages)
        assert text.strip()
        assert MUST_HAVE_TEXT[name] in text
