"""Word 97 (.doc) and PowerPoint 97 (.ppt): text, metadata and refusals of the legacy readers.

Files are written by tests/legacy_office.py from the published layouts; hostile
variants also run through the real workers (tests/hostile_inputs.py).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from aegis.formats import Detection, DocumentError, Limits, doc, extract_metadata, extract_pages, ppt, validate
from aegis.formats.doc import visible
from tests.legacy_office import presentation, summary_information, word_document

LIMITS = Limits()
PROPERTIES = summary_information(
    title="Quarterly review",
    author="Ada Lovelace",
    subject="Finance",
    keywords="q3, plan",
    last_saved_by="Grace Hopper",
    app_name="Microsoft Office Word",
    pages=3,
    words=120,
    created=datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC),
    saved=datetime(2021, 6, 7, 8, 9, 10, tzinfo=UTC),
)


def process(tmp_path: Path, data: bytes, filename: str) -> tuple[Detection, dict, list[str]]:
    path = tmp_path / "blob"
    path.write_bytes(data)
    detection = validate(path, filename, LIMITS)
    meta = extract_metadata(path, detection, LIMITS)
    json.dumps(meta)
    return detection, meta, [page.text for page in extract_pages(path, detection, LIMITS)]


def refusal(tmp_path: Path, data: bytes, filename: str) -> DocumentError:
    with pytest.raises(DocumentError) as caught:
        process(tmp_path, data, filename)
    return caught.value


def test_doc_main_text_splits_at_page_breaks_and_other_stories_follow_it(tmp_path: Path) -> None:
    data = word_document(
        "Annual report\rFirst page.\x0cSecond page \x13 PAGE \\* MERGEFORMAT \x142\x15 of two.\r",
        footnotes="A footnote.\r",
        headers="ACME confidential\r\rACME confidential\r",
        properties=PROPERTIES,
    )
    detection, meta, pages = process(tmp_path, data, "report.doc")
    assert (detection.family, detection.mime) == ("doc", "application/msword")
    assert pages == ["Annual report\nFirst page.", "Second page 2 of two.\n\nA footnote.\n\nACME confidential"]
    assert meta["pages"] == 2
    assert meta["doc"]["stories"] == ["footnotes", "headers"]


def test_doc_metadata_comes_from_the_ole_property_sets(tmp_path: Path) -> None:
    _, meta, _ = process(tmp_path, word_document("Body.\r", properties=PROPERTIES), "report.doc")
    assert (meta["title"], meta["author"], meta["subject"], meta["keywords"]) == (
        "Quarterly review", "Ada Lovelace", "Finance", "q3, plan",
    )
    assert (meta["created_at"], meta["modified_at"]) == ("2020-01-02T03:04:05", "2021-06-07T08:09:10")
    assert meta["creator"] == "Microsoft Office Word"
    detail = meta["doc"]
    assert (detail["last_modified_by"], detail["page_count"], detail["word_count"]) == ("Grace Hopper", 3, 120)


def test_doc_eight_bit_pieces_decode_as_cp1252(tmp_path: Path) -> None:
    _, _, pages = process(tmp_path, word_document("Caf\xe9 \u20ac5 na\xefve\r", compressed=True), "menu.doc")
    assert pages == ["Café €5 naïve"]


def test_doc_tables_become_rows_of_cells() -> None:
    assert visible("Region\x07Revenue\x07\x07North\x0742\x07\x07") == "Region | Revenue\nNorth | 42\n"


def test_doc_nested_field_codes_are_dropped_and_results_kept() -> None:
    assert visible("a \x13 IF \x13 PAGE \x143\x15 = 3 \x14yes\x15 b") == "a yes b"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (word_document("Secret.\r", encrypted=True), "encrypted"),
        (word_document("Text.\r", ccp_text=2**31), "malformed"),
        (word_document("Text.\r", piece_fc=10**7), "malformed"),
        (word_document("Text.\r", nfib=0x65), "unsupported_format"),
    ],
    ids=["encrypted", "fib-claims-2gb", "piece-past-stream", "word-95"],
)
def test_doc_refusals_name_the_reason(tmp_path: Path, data: bytes, code: str) -> None:
    error = refusal(tmp_path, data, "x.doc")
    assert error.code == code and error.rejected


def test_ppt_has_a_page_per_slide_with_title_body_text_boxes_and_notes(tmp_path: Path) -> None:
    data = presentation(
        [
            ("Welcome", "First point\nSecond point", "A free text box", "Speak slowly here"),
            ("Plans", "Grow", "", ""),
        ],
        properties=PROPERTIES,
    )
    detection, meta, pages = process(tmp_path, data, "deck.ppt")
    assert (detection.family, detection.mime) == ("ppt", "application/vnd.ms-powerpoint")
    assert pages == [
        "Welcome\n\nFirst point\nSecond point\n\nA free text box\n\nSpeak slowly here",
        "Plans\n\nGrow",
    ]
    assert meta["pages"] == 2
    assert (meta["title"], meta["author"], meta["created_at"]) == ("Quarterly review", "Ada Lovelace",
                                                                   "2020-01-02T03:04:05")
    assert meta["ppt"]["last_modified_by"] == "Grace Hopper"


def test_ppt_without_its_edit_chain_is_read_in_stream_order(tmp_path: Path) -> None:
    data = presentation([("One", "Alpha", "Box", ""), ("Two", "Beta", "", "")], current_user=False)
    _, _, pages = process(tmp_path, data, "deck.ppt")
    assert pages == ["One\n\nAlpha\n\nBox", "Two\n\nBeta"]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (presentation([("T", "B", "", "")], encrypted=True), "encrypted"),
        (presentation([("T", "B", "", "")], nest=10_000), "nesting_too_deep"),
        (presentation([("T", "B", "", "")], overlong_slide=True), "malformed"),
    ],
    ids=["encrypted", "nested-10000", "record-past-stream"],
)
def test_ppt_refusals_name_the_reason(tmp_path: Path, data: bytes, code: str) -> None:
    assert refusal(tmp_path, data, "x.ppt").code == code


def test_ppt_edit_chain_that_loops_is_followed_once(tmp_path: Path) -> None:
    _, _, pages = process(tmp_path, presentation([("Title", "Body", "", "")], edit_loops=True), "x.ppt")
    assert pages == ["Title\n\nBody"]


def test_ppt_too_many_slides_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(presentation([(f"S{i}", "b", "", "") for i in range(6)]))
    with pytest.raises(DocumentError) as caught:
        validate(path, "x.ppt", Limits(max_pages=5))
    assert caught.value.code == "too_many_pages"


def test_legacy_and_xml_formats_of_one_application_are_read_as_their_bytes(tmp_path: Path) -> None:
    assert process(tmp_path, word_document("Old bytes.\r"), "new.docx")[0].family == "doc"
    assert process(tmp_path, presentation([("T", "B", "", "")]), "new.pptx")[0].family == "ppt"
    with pytest.raises(DocumentError) as caught:
        process(tmp_path, word_document("Word.\r"), "deck.ppt")
    assert caught.value.code == "type_mismatch"


@pytest.mark.parametrize("kind", ["doc", "ppt"])
def test_damaged_legacy_files_end_in_a_document_error_never_a_crash(tmp_path: Path, kind: str) -> None:
    """Bytes flipped and files cut at random: only DocumentErrors (with a file's code) come out.

    The reader module is called directly, not through aegis.formats' guard that turns
    any exception into ``malformed``, so an unchecked offset fails this test.
    """
    reader = {"doc": doc, "ppt": ppt}[kind]
    original = (
        word_document("Some text here.\r", headers="Head\r", properties=PROPERTIES)
        if kind == "doc"
        else presentation([("Title", "Body", "Box", "Notes")], properties=PROPERTIES)
    )
    rng = random.Random(16)
    path = tmp_path / "blob"
    codes = set()
    for attempt in range(150):
        data = bytearray(original)
        if attempt % 3 == 0:
            data = data[: rng.randrange(512, len(data))]
        else:
            start = rng.randrange(512, len(data) - 8)  # past the OLE header, into streams and tables
            for offset in range(start, start + rng.randrange(1, 8)):
                data[offset] = rng.randrange(256)
        path.write_bytes(bytes(data))
        try:
            reader.check(path, LIMITS)
            reader.extract_metadata(path, LIMITS)
            reader.extract_pages(path, LIMITS)
        except DocumentError as exc:
            codes.add(exc.code)
    assert codes <= {"malformed", "encrypted", "nesting_too_deep", "too_complex", "unsupported_format"}
    assert "malformed" in codes
