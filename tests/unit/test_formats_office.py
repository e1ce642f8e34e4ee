"""Office formats: DOCX, PPTX, XLSX (generated here), ODT/EPUB/RTF/DOC from the corpus."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from aegis.formats import Detection, DocumentError, Limits, extract_metadata, extract_pages, validate
from tests.corpus import CORPUS as CORPUS_ROOT

LIMITS = Limits()
CORPUS = CORPUS_ROOT / "office"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def process(path: Path, filename: str) -> tuple[Detection, dict, list]:
    detection = validate(path, filename, LIMITS)
    meta = extract_metadata(path, detection, LIMITS)
    json.dumps(meta)
    return detection, meta, extract_pages(path, detection, LIMITS)


def save(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path


def make_docx() -> bytes:
    import docx
    from docx.enum.text import WD_BREAK

    document = docx.Document()
    document.add_heading("Annual Report", level=1)
    document.add_paragraph("First page paragraph about the company and its long history of products.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Region", "Revenue"
    table.cell(1, 0).text, table.cell(1, 1).text = "North", "42"
    document.add_paragraph("Before the break.").add_run().add_break(WD_BREAK.PAGE)
    document.add_paragraph("Second page text after an explicit page break.")
    document.sections[0].header.paragraphs[0].text = "Confidential header"
    props = document.core_properties
    props.title, props.author, props.subject, props.keywords = "Annual Report", "Ada", "Finance", "report, 2024"
    props.last_modified_by, props.revision = "Grace", 7
    props.created = dt.datetime(2024, 1, 2, 3, 4, 5)
    props.modified = dt.datetime(2024, 2, 3, 4, 5, 6)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_docx_text_follows_body_order_with_tables_and_page_breaks(tmp_path: Path) -> None:
    detection, _, pages = process(save(tmp_path, make_docx()), "report.docx")
    assert detection.family == "docx"
    assert len(pages) == 2
    first = pages[0].text
    assert first.index("Annual Report") < first.index("First page") < first.index("Region | Revenue")
    assert "North | 42" in first
    assert "Second page text" in pages[1].text
    assert "Confidential header" in pages[-1].text


def test_docx_core_properties_are_normalised(tmp_path: Path) -> None:
    _, meta, _ = process(save(tmp_path, make_docx()), "report.docx")
    assert meta["title"] == "Annual Report"
    assert meta["author"] == "Ada"
    assert meta["subject"] == "Finance"
    assert meta["keywords"] == "report, 2024"
    assert meta["created_at"].startswith("2024-01-02T03:04:05")
    assert meta["modified_at"].startswith("2024-02-03T04:05:06")
    assert meta["docx"]["last_modified_by"] == "Grace"
    assert meta["docx"]["revision"] == 7
    assert meta["docx"]["tables"] == 1
    assert meta["pages"] == 2


def make_pptx() -> bytes:
    import pptx
    from pptx.util import Inches

    presentation = pptx.Presentation()
    layout = presentation.slide_layouts[1]
    for number in (1, 2):
        slide = presentation.slides.add_slide(layout)
        slide.shapes.title.text = f"Slide {number} title"
        slide.placeholders[1].text = f"Body of slide {number}"
        slide.notes_slide.notes_text_frame.text = f"Speaker notes {number}"
    slide = presentation.slides[1]
    group = slide.shapes.add_group_shape()
    box = group.shapes.add_textbox(Inches(1), Inches(1), Inches(2), Inches(1))
    box.text_frame.text = "Text inside a group"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(3), Inches(4), Inches(1)).table
    table.cell(0, 0).text, table.cell(0, 1).text = "Q1", "Q2"
    presentation.core_properties.title = "Deck"
    presentation.core_properties.author = "Linus"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def test_pptx_has_one_page_per_slide_with_groups_tables_and_notes(tmp_path: Path) -> None:
    detection, meta, pages = process(save(tmp_path, make_pptx()), "deck.pptx")
    assert detection.family == "pptx"
    assert [p.number for p in pages] == [1, 2]
    assert "Slide 1 title" in pages[0].text and "Speaker notes 1" in pages[0].text
    assert "Text inside a group" in pages[1].text
    assert "Q1 | Q2" in pages[1].text
    assert meta["pages"] == 2
    assert (meta["title"], meta["author"]) == ("Deck", "Linus")


def make_xlsx() -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sales"
    sheet.append(["Region", "Amount"])
    sheet.append(["North", 10.0])
    sheet.append(["South", 2.5])
    other = workbook.create_sheet("Notes")
    other["A1"] = "Remember the milk"
    other["D900"] = "far away cell"
    workbook.properties.creator = "Excel user"
    workbook.properties.title = "Numbers"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_xlsx_has_one_page_per_sheet_with_rows_as_lines(tmp_path: Path) -> None:
    detection, meta, pages = process(save(tmp_path, make_xlsx()), "book.xlsx")
    assert detection.family == "xlsx"
    assert [p.number for p in pages] == [1, 2]
    assert pages[0].text.splitlines() == ["Sales", "", "Region | Amount", "North | 10", "South | 2.5"]
    assert "Remember the milk" in pages[1].text and "far away cell" in pages[1].text
    assert meta["xlsx"]["sheets"] == ["Sales", "Notes"]
    assert (meta["title"], meta["author"]) == ("Numbers", "Excel user")


def test_xlsx_cells_read_as_openpyxl_reads_their_cached_values(tmp_path: Path) -> None:
    """Our streaming reader and openpyxl's data_only reader agree cell for cell:
    dates and times by their number format, booleans, floats, gaps, rich text."""
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    from aegis.formats.xlsx import sheet_text

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["when", dt.datetime(2024, 3, 1, 12, 30), dt.date(1999, 12, 31), dt.time(8, 15)])
    sheet.append([True, False, 0.1, 1e-9, 3.0, -7])
    sheet["F7"] = "sparse"
    sheet["B9"] = CellRichText(["plain ", TextBlock(InlineFont(b=True), "bold")])
    sheet["C10"] = "  padded  "
    buffer = io.BytesIO()
    workbook.save(buffer)
    path = save(tmp_path, buffer.getvalue())
    expected, _ = sheet_text(
        openpyxl.load_workbook(io.BytesIO(buffer.getvalue()), read_only=True, data_only=True)
        .active.iter_rows(values_only=True),
        10**6,
    )
    detection, _, pages = process(path, "cells.xlsx")
    assert pages[0].text == f"Sheet\n\n{expected}"
    assert "2024-03-01 12:30:00" in expected and "True | False | 0.1" in expected and "plain bold" in expected


def _rewrite(package: bytes, name: str, change: object) -> bytes:
    """A copy of a zip package with one part changed (``change(bytes) -> bytes``) or left out (None)."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(package)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == name:
                if change is None:
                    continue
                data = change(data)  # type: ignore[operator]
            target.writestr(item.filename, data)
    return out.getvalue()


def test_an_entity_declared_in_a_slide_is_refused(tmp_path: Path) -> None:
    from tests.hostile_inputs import XXE

    def plant(data: bytes) -> bytes:
        head, _, rest = data.partition(b"?>")
        return head + b"?>" + XXE + rest

    with pytest.raises(DocumentError) as caught:
        process(save(tmp_path, _rewrite(make_pptx(), "ppt/slides/slide1.xml", plant)), "deck.pptx")
    assert caught.value.code == "xml_entities"


def _deck_without_notes() -> bytes:
    import pptx

    presentation = pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = "No notes here"
    buffer = io.BytesIO()
    presentation.save(buffer)
    return buffer.getvalue()


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def test_a_deck_declaring_no_notes_slides_does_not_read_its_slides_relationships(tmp_path: Path) -> None:
    """A slide's relationships are read only to find its notes: in a deck whose content
    types declare no notes slide they are never parsed, so damage there is not ``malformed``
    (an accepted trade of issue 16; a deck with notes still fails on it, below)."""
    assert b"notesSlide+xml" not in _deck_without_notes()
    damaged = _rewrite(_deck_without_notes(), "ppt/slides/_rels/slide1.xml.rels", _truncate)
    _detection, _meta, pages = process(save(tmp_path, damaged), "deck.pptx")
    assert pages[0].text == "No notes here"


def test_a_damaged_slide_relationships_part_is_malformed_in_a_deck_with_notes(tmp_path: Path) -> None:
    damaged = _rewrite(make_pptx(), "ppt/slides/_rels/slide1.xml.rels", _truncate)
    with pytest.raises(DocumentError) as caught:
        process(save(tmp_path, damaged), "deck.pptx")
    assert caught.value.code == "malformed"


def test_office_packages_without_core_properties_get_none_invented(tmp_path: Path) -> None:
    """python-docx and python-pptx made up a title and a modification time of "now"."""
    for data, name, family in (
        (_rewrite(make_docx(), "docProps/core.xml", None), "a.docx", "docx"),
        (_rewrite(make_pptx(), "docProps/core.xml", None), "a.pptx", "pptx"),
    ):
        _, meta, pages = process(save(tmp_path, data), name)
        assert pages[0].text
        assert not {"title", "author", "created_at", "modified_at"} & set(meta), (family, meta)
        assert "last_modified_by" not in meta[family] and "revision" not in meta[family]


def test_docx_bytes_named_pptx_are_a_type_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as caught:
        validate(save(tmp_path, make_docx()), "deck.pptx", LIMITS)
    assert caught.value.code == "type_mismatch"


def test_modern_file_with_legacy_extension_is_read_as_what_it_is(tmp_path: Path) -> None:
    detection, _, pages = process(save(tmp_path, make_pptx()), "deck.ppt")
    assert detection.family == "pptx"
    assert len(pages) == 2


@needs_corpus
def test_legacy_word_doc_from_the_corpus_is_read_with_its_text_and_properties() -> None:
    detection, meta, pages = process(CORPUS / "fake.doc", "fake.doc")
    assert (detection.family, detection.mime) == ("doc", "application/msword")
    assert [page.text for page in pages] == ["Lorem ipsum dolor sit amet."]
    assert meta["author"] == "Mr. Miagi"
    assert meta["created_at"] == "2013-12-24T04:15:00"


@needs_corpus
def test_odt_text_and_meta() -> None:
    detection, meta, pages = process(CORPUS / "simple.odt", "simple.odt")
    assert detection.family == "odf"
    assert detection.mime == "application/vnd.oasis.opendocument.text"
    assert pages[0].text.strip()
    assert "odf" in meta


@needs_corpus
def test_epub_pages_follow_the_spine_and_metadata_comes_from_the_opf() -> None:
    detection, meta, pages = process(CORPUS / "winter-sports.epub", "winter-sports.epub")
    assert detection.family == "epub"
    assert meta["title"] == "Winter Sports in Switzerland"
    assert "Benson" in meta["author"]
    assert len(pages) > 1
    assert "Project Gutenberg" in pages[0].text
    assert meta["language"] == "en"


def test_rtf_text_and_info_group(tmp_path: Path) -> None:
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252{\info{\title Minutes}{\author Ada}"
        rb"{\creatim\yr2023\mo5\dy6\hr7\min8}}"
        rb"\pard Meeting minutes: caf\'e9 and \u8364? budget.\par Second line.\par}"
    )
    detection, meta, pages = process(save(tmp_path, rtf), "minutes.rtf")
    assert detection.family == "rtf"
    assert "Meeting minutes: café and € budget." in pages[0].text
    assert "Second line." in pages[0].text
    assert (meta["title"], meta["author"]) == ("Minutes", "Ada")
    assert meta["created_at"] == "2023-05-06T07:08:00"


def test_rtf_named_file_that_is_text_is_a_type_mismatch(tmp_path: Path) -> None:
    with pytest.raises(DocumentError) as caught:
        validate(save(tmp_path, b"just some text, not rtf at all"), "x.rtf", LIMITS)
    assert caught.value.code == "type_mismatch"


def test_rtf_code_page_escapes_follow_the_declared_code_page(tmp_path: Path) -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1251\pard \'cf\'f0\'e8\'e2\'e5\'f2 world\par}"
    _, _, pages = process(save(tmp_path, rtf), "ru.rtf")
    assert "Привет world" in pages[0].text


def test_xlsx_cells_keep_their_date_or_number_typing_when_styles_alternate(tmp_path: Path) -> None:
    """The cell loop learns which styles show plain numbers; a date-styled cell after
    plain numbers (and a plain number after dates) is still typed by its own style."""
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Mixed"
    sheet.append([1.0, dt.datetime(2024, 1, 2), 2.5, 7])
    sheet.append([dt.datetime(2024, 3, 4, 5, 6), 3, 1e20, 0.1])
    sheet["E2"] = 45000
    sheet["E2"].number_format = "yyyy-mm-dd"
    buffer = io.BytesIO()
    workbook.save(buffer)
    _, _, pages = process(save(tmp_path, buffer.getvalue()), "mixed.xlsx")
    assert pages[0].text.splitlines() == [
        "Mixed",
        "",
        "1 | 2024-01-02 00:00:00 | 2.5 | 7",
        "2024-03-04 05:06:00 | 3 | 100000000000000000000 | 0.1 | 2023-03-15 00:00:00",
    ]
