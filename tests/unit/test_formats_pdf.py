"""PDF: validation, metadata detail, text per page, passwords."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aegis.formats import DocumentError, Limits, decrypt_pdf, extract_metadata, extract_pages, validate
from tests.corpus import CORPUS as CORPUS_ROOT
from tests.hostile_inputs import FONT, build_pdf, simple_pdf, stream

CORPUS = CORPUS_ROOT / "pdf"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")
LIMITS = Limits()


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "blob"
    path.write_bytes(data)
    return path


def two_page_pdf() -> bytes:
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Lang (de-DE) >>",
            b"<< /Type /Pages /Kids [3 0 R 4 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
            b"/Contents 6 0 R /Annots [<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] >> "
            b"<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] >>] >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> >> "
            b"/Contents 7 0 R >>",
            FONT,
            stream(b"BT /F1 12 Tf 72 720 Td (First page text) Tj ET"),
            stream(b"BT /F1 12 Tf 72 720 Td (Second page text) Tj ET"),
            b"<< /Title (Quarterly report) /Author (Ada Lovelace) /Subject (Numbers) /Keywords (q1, report) "
            b"/Creator (Writer) /Producer (Aegis tests) /CreationDate (D:20240131120000+01'00') "
            b"/ModDate (D:20240201083000Z) >>",
        ],
        trailer_extra=b"/Info 8 0 R ",
    )


def test_text_comes_out_per_page_in_order(tmp_path: Path) -> None:
    path = write(tmp_path, two_page_pdf())
    detection = validate(path, "report.pdf", LIMITS)
    assert (detection.family, detection.mime, detection.extension) == ("pdf", "application/pdf", "pdf")
    pages = extract_pages(path, detection, LIMITS)
    assert [p.number for p in pages] == [1, 2]
    assert "First page text" in pages[0].text
    assert "Second page text" in pages[1].text


def test_info_dictionary_is_normalised_with_timezones_kept(tmp_path: Path) -> None:
    path = write(tmp_path, two_page_pdf())
    meta = extract_metadata(path, validate(path, "r.pdf", LIMITS), LIMITS)
    assert meta["pages"] == 2
    assert meta["encrypted"] is False
    assert meta["title"] == "Quarterly report"
    assert meta["author"] == "Ada Lovelace"
    assert meta["subject"] == "Numbers"
    assert meta["keywords"] == "q1, report"
    assert meta["creator"] == "Writer"
    assert meta["producer"] == "Aegis tests"
    assert meta["created_at"] == "2024-01-31T12:00:00+01:00"
    assert meta["modified_at"] == "2024-02-01T08:30:00+00:00"


def test_pdf_detail_reports_structure(tmp_path: Path) -> None:
    path = write(tmp_path, two_page_pdf())
    detail = extract_metadata(path, validate(path, "r.pdf", LIMITS), LIMITS)["pdf"]
    assert detail["version"] == "1.7"
    assert detail["page_size"] == {"width": 595.0, "height": 842.0, "unit": "pt"}
    assert detail["annotations"] == {"Link": 1, "Text": 1}
    assert detail["javascript"] is False
    assert detail["lang"] == "de-DE"
    assert detail["outline_entries"] == 0


def test_short_text_leaves_language_unset(tmp_path: Path) -> None:
    path = write(tmp_path, simple_pdf(b"BT /F1 12 Tf 72 720 Td (Hi) Tj ET"))
    meta = extract_metadata(path, validate(path, "r.pdf", LIMITS), LIMITS)
    assert "language" not in meta


def encrypted_pdf(user: str, owner: str = "owner") -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(simple_pdf())))
    writer.encrypt(user_password=user, owner_password=owner, algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_encrypted_pdf_without_password_is_rejected_as_encrypted(tmp_path: Path) -> None:
    path = write(tmp_path, encrypted_pdf("secret"))
    with pytest.raises(DocumentError) as caught:
        validate(path, "locked.pdf", LIMITS)
    assert caught.value.code == "encrypted"
    assert caught.value.rejected


def test_empty_user_password_opens_without_asking(tmp_path: Path) -> None:
    path = write(tmp_path, encrypted_pdf(""))
    detection = validate(path, "owner-only.pdf", LIMITS)
    assert extract_metadata(path, detection, LIMITS)["encrypted"] is True
    assert "Hello" in extract_pages(path, detection, LIMITS)[0].text


def test_decrypt_pdf_writes_a_copy_that_needs_no_password(tmp_path: Path) -> None:
    path = write(tmp_path, encrypted_pdf("secret"))
    copy = tmp_path / "plain"
    decrypt_pdf(path, copy, "secret")
    detection = validate(copy, "plain.pdf", LIMITS)
    assert extract_metadata(copy, detection, LIMITS)["encrypted"] is False
    assert "Hello hostile world" in extract_pages(copy, detection, LIMITS)[0].text


def test_decrypt_pdf_with_wrong_password_raises_wrong_password(tmp_path: Path) -> None:
    path = write(tmp_path, encrypted_pdf("secret"))
    with pytest.raises(DocumentError) as caught:
        decrypt_pdf(path, tmp_path / "plain", "nope")
    assert caught.value.code == "wrong_password"


@needs_corpus
@pytest.mark.parametrize("name", ["password.pdf", "libreoffice-writer-password.pdf"])
def test_corpus_password_pdfs_need_a_password(name: str) -> None:
    with pytest.raises(DocumentError) as caught:
        validate(CORPUS / name, name, LIMITS)
    assert caught.value.code == "encrypted"


@needs_corpus
def test_corpus_pdf_with_form_attachment_and_outline_details() -> None:
    forms = extract_metadata(
        CORPUS / "pdflatex-forms.pdf", validate(CORPUS / "pdflatex-forms.pdf", "f.pdf", LIMITS), LIMITS
    )
    assert forms["pdf"]["form_fields"] == 3
    assert forms["pdf"]["annotations"] == {"Widget": 3}
    attach = extract_metadata(
        CORPUS / "with-attachment.pdf", validate(CORPUS / "with-attachment.pdf", "a.pdf", LIMITS), LIMITS
    )
    assert attach["pdf"]["attachments"][0]["name"] == "image.png"
    outline = extract_metadata(
        CORPUS / "pdflatex-outline.pdf", validate(CORPUS / "pdflatex-outline.pdf", "o.pdf", LIMITS), LIMITS
    )
    assert outline["pdf"]["outline_entries"] == 9


@needs_corpus
def test_corpus_xmp_metadata_is_read() -> None:
    path = CORPUS / "output_with_metadata_pymupdf.pdf"
    meta = extract_metadata(path, validate(path, path.name, LIMITS), LIMITS)
    assert meta["pdf"]["xmp"]["dc_title"] == "Sample PDF with XMP Metadata"
    assert meta["pdf"]["xmp"]["dc_creator"] == ["John Doe"]
    pdfa = CORPUS / "crazyones-pdfa.pdf"
    xmp = extract_metadata(pdfa, validate(pdfa, pdfa.name, LIMITS), LIMITS)["pdf"]["xmp"]
    assert xmp["create_date"] == "2023-04-23T17:59:04+08:00"


@needs_corpus
def test_corpus_images_are_counted() -> None:
    path = CORPUS / "imagemagick-images.pdf"
    meta = extract_metadata(path, validate(path, path.name, LIMITS), LIMITS)
    assert meta["pdf"]["images"] >= 1


@needs_corpus
def test_corpus_language_is_detected_from_text() -> None:
    from aegis.text.language import detect_language

    for name, code in [("fr_olap.pdf", "fr"), ("korean-text-with-tables.pdf", "ko"), ("GeoTopo-komprimiert.pdf", "de")]:
        path = CORPUS / name
        pages = extract_pages(path, validate(path, name, LIMITS), LIMITS)
        assert detect_language("\n".join(p.text for p in pages)[:20_000]) == code


def test_pdf_pypdf_cannot_parse_is_read_by_pdfium_and_marked_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pypdf
    from pypdf.errors import PdfReadError

    def broken(*_args: object, **_kwargs: object) -> None:
        raise PdfReadError("Invalid object in /Pages")

    monkeypatch.setattr(pypdf, "PdfReader", broken)
    path = write(tmp_path, two_page_pdf())
    detection = validate(path, "r.pdf", LIMITS)
    assert detection.details["repaired"] is True
    meta = extract_metadata(path, detection, LIMITS)
    assert meta["pages"] == 2
    assert meta["title"] == "Quarterly report"
    assert meta["created_at"] == "2024-01-31T12:00:00+01:00"
    assert meta["pdf"] == {"version": "1.7", "repaired": True}
    assert "Second page text" in extract_pages(path, detection, LIMITS)[1].text


def test_pdf_neither_engine_can_read_stays_malformed(tmp_path: Path) -> None:
    path = write(tmp_path, b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n")
    with pytest.raises(DocumentError) as caught:
        validate(path, "r.pdf", LIMITS)
    assert caught.value.code == "malformed"
