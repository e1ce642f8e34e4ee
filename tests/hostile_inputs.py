"""Generators of hostile and broken files, built in memory (no binaries in git).

Each generator returns ``(filename, data, expected)``: ``expected`` is the set of
outcomes we accept, either DocumentError codes or ``OK`` ("succeeds safely":
the file is legitimate in spite of looking odd, e.g. a PDF with a zip appended).
Every case must end quickly in one of its expected outcomes; the tests in
``tests/unit/test_hostile_*.py`` run them through the real extraction layer.

Sizes are chosen to trip the guards, not the machine: a 300 MB bomb is ~300 KB
on disk and inflates only as far as a guard lets it.
"""

from __future__ import annotations

import io
import os
import random
import zipfile
import zlib
from collections.abc import Callable
from functools import lru_cache

OK = "ok"
Generated = tuple[str, bytes, frozenset[str]]


def expect(*codes: str) -> frozenset[str]:
    return frozenset(codes)


# --- building blocks ---------------------------------------------------------------


def build_pdf(objects: list[bytes], *, root: int = 1, trailer_extra: bytes = b"", header: bytes = b"%PDF-1.7") -> bytes:
    """A PDF whose xref offsets are right, so only the content we plant is hostile.

    ``objects[i]`` is the body of object ``i + 1`` (without ``obj``/``endobj``).
    """
    out = io.BytesIO()
    out.write(header + b"\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R %s>>\n" % (len(objects) + 1, root, trailer_extra))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def stream(data: bytes, extra: bytes = b"", *, length: bytes | None = None) -> bytes:
    declared = length if length is not None else str(len(data)).encode()
    return b"<< /Length " + declared + b" " + extra + b" >>\nstream\n" + data + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
TEXT = b"BT /F1 24 Tf 72 720 Td (Hello hostile world) Tj ET"


def simple_pdf(content: bytes = TEXT, *, content_extra: bytes = b"", catalog_extra: bytes = b"") -> bytes:
    """One page with a font resource, so text extraction really runs the content."""
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            FONT,
            stream(content, content_extra),
        ]
    )


@lru_cache(maxsize=8)
def deflate_zeros(size: int, chunk: bytes = b" ") -> bytes:
    """zlib stream of ``size`` repeated bytes, built without holding them in memory."""
    compressor = zlib.compressobj(9)
    block = chunk * (1024 * 1024)
    parts = []
    for _ in range(size // len(block)):
        parts.append(compressor.compress(block))
    parts.append(compressor.flush())
    return b"".join(parts)


def build_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="application/xml"/>'
    b'<Override PartName="/word/document.xml" '
    b'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b"</Types>"
)
RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    b'<Relationship Id="rId1" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="word/document.xml"/></Relationships>'
)
W_NS = b'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def document_xml(body: bytes = b"<w:p><w:r><w:t>Hello</w:t></w:r></w:p>", prolog: bytes = b"") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        + prolog
        + b"<w:document "
        + W_NS
        + b"><w:body>"
        + body
        + b"</w:body></w:document>"
    )


def docx(document: bytes | None = None, extra: dict[str, bytes] | None = None) -> bytes:
    """A minimal valid DOCX (python-docx opens it), optionally with planted parts."""
    entries = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": RELS,
        "word/document.xml": document if document is not None else document_xml(),
    }
    entries.update(extra or {})
    return build_zip(entries)


LAUGHS = (
    b'<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10))
    + b"]>"
)
XXE = b'<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


# --- PDF -------------------------------------------------------------------------------


def pdf_flate_bomb_with_font() -> Generated:
    """A 200 MB content stream (of a page with a font) in ~200 KB of Flate."""
    payload = deflate_zeros(200 * 1024 * 1024)
    return "bomb.pdf", simple_pdf(payload, content_extra=b"/Filter /FlateDecode"), expect("zip_bomb")


def pdf_nested_flate() -> Generated:
    """Flate inside Flate: ~1 KB on disk, 256 MB after both layers."""
    inner = deflate_zeros(256 * 1024 * 1024)
    outer = zlib.compress(inner, 9)
    return (
        "nested-flate.pdf",
        simple_pdf(outer, content_extra=b"/Filter [/FlateDecode /FlateDecode]"),
        expect("zip_bomb"),
    )


def pdf_huge_length() -> Generated:
    """``/Length 99999999999``: a declared length far beyond the file."""
    data = build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            FONT,
            stream(TEXT, length=b"99999999999"),
        ]
    )
    # pypdf refuses the declared length (its maximum_declared_stream_length limit).
    return "huge-length.pdf", data, expect("malformed")


def pdf_self_referencing_kids() -> Generated:
    """A page tree node that lists itself as its own kid."""
    data = build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>",
        ]
    )
    return "kids-loop.pdf", data, expect("malformed")


def pdf_cyclic_outline() -> Generated:
    """Outline items whose /Next chain loops; the document itself is fine."""
    data = build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /Outlines 6 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            FONT,
            stream(TEXT),
            b"<< /Type /Outlines /First 7 0 R /Last 8 0 R /Count 2 >>",
            b"<< /Title (One) /Parent 6 0 R /Next 8 0 R /First 8 0 R /Dest [3 0 R /Fit] >>",
            b"<< /Title (Two) /Parent 6 0 R /Next 7 0 R /Prev 7 0 R /First 7 0 R /Dest [3 0 R /Fit] >>",
        ]
    )
    return "outline-loop.pdf", data, expect(OK)


def pdf_prev_loop() -> Generated:
    """A trailer whose /Prev points back at its own xref section."""
    base = simple_pdf()
    startxref = int(base.rsplit(b"startxref\n", 1)[1].split(b"\n", 1)[0])
    data = base.replace(b"/Root 1 0 R ", b"/Root 1 0 R /Prev %d " % startxref)
    # pypdf detects the circular chain and stops; the one xref section is complete.
    return "prev-loop.pdf", data, expect(OK)


def pdf_nested_arrays() -> Generated:
    """50,000 nested ``[`` in a content stream (pypdf recurses on each)."""
    content = b"BT /F1 12 Tf " + b"[" * 50_000 + b"]" * 50_000 + b" TJ ET"
    return "nested-arrays.pdf", simple_pdf(content), expect("nesting_too_deep")


def _many_pages(count: int, declared: int) -> bytes:
    kids = b" ".join(b"%d 0 R" % (i + 5) for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % declared,
        FONT,
        stream(TEXT),
    ]
    page = (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>"
    )
    objects.extend(page for _ in range(count))
    return build_pdf(objects)


def pdf_20000_pages() -> Generated:
    return "many-pages.pdf", _many_pages(20_000, 20_000), expect("too_many_pages")


def pdf_20000_pages_lying_count() -> Generated:
    """20,000 pages behind a /Count that claims 1: the real count must be checked."""
    return "many-pages-lying.pdf", _many_pages(20_000, 1), expect("too_many_pages")


def pdf_truncated() -> Generated:
    data = simple_pdf()
    return "truncated.pdf", data[: len(data) // 3], expect("malformed")


def pdf_header_only() -> Generated:
    return "header-only.pdf", b"%PDF-1.7\n", expect("malformed")


def pdf_junk_before_header() -> Generated:
    """Up to 1 KB before ``%PDF-`` is allowed by the spec (annex H); readers cope."""
    return "junk.pdf", b"JUNK" * 100 + b"\n" + simple_pdf(), expect(OK)


def pdf_far_junk_before_header() -> Generated:
    """A header after 1 KB of noise is not a PDF by any reader's rules."""
    rng = random.Random(7)
    junk = bytes(rng.randrange(256) for _ in range(4096))
    return "far-junk.pdf", junk + simple_pdf(), expect("type_mismatch")


def pdf_with_zip_appended() -> Generated:
    """A PDF/ZIP polyglot: still a valid PDF, read as one."""
    return "polyglot.pdf", simple_pdf() + build_zip({"evil.txt": b"hello"}), expect(OK)


def pdf_javascript() -> Generated:
    """Scripts are flagged, never run: the document is accepted."""
    data = build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R /OpenAction 6 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
            b"/Contents 5 0 R >>",
            FONT,
            stream(TEXT),
            b"<< /S /JavaScript /JS (app.alert('hi');) >>",
        ]
    )
    return "script.pdf", data, expect(OK)


def pdf_encrypted() -> Generated:
    """AES-encrypted with a user password: needs the password."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(simple_pdf())))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return "encrypted.pdf", buffer.getvalue(), expect("encrypted")


def exe_renamed_pdf() -> Generated:
    stub = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00"
    stub += b"\x0e\x1f\xba\x0e\x00\xb4\t\xcd!\xb8\x01L\xcd!This program cannot be run in DOS mode.\r\r\n$"
    stub += b"\x00" * (0x80 - len(stub)) + b"PE\x00\x00" + b"\x00" * 200
    return "invoice.pdf", stub, expect("type_mismatch")


# --- text and markup ----------------------------------------------------------------


def html_renamed_txt() -> Generated:
    page = b"<!DOCTYPE html><html><head><script>alert(1)</script></head><body><p>Hi</p></body></html>"
    return "notes.txt", page, expect("type_mismatch")


def invalid_utf8_text() -> Generated:
    """Mostly UTF-8 with broken sequences: decoded, bad bytes replaced."""
    data = "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e, ".encode() * 20 + b"\xff\xfe\xc3\x28 broken \xe2\x82 end\n"
    return "broken.txt", data, expect(OK)


BIDI_TEXT = "Invoice \u202eTXT.EXE\u202c total \u200b1\u200b0\u2066 0\u2069 EUR \ufeffpaid\n" * 10


def bidi_and_zero_width() -> Generated:
    """Bidi overrides and zero-width characters: accepted, stripped from the text."""
    return "bidi.txt", BIDI_TEXT.encode("utf-8"), expect(OK)


def xml_billion_laughs() -> Generated:
    data = b'<?xml version="1.0"?>' + LAUGHS + b"<lolz>&lol9;</lolz>"
    return "laughs.xml", data, expect("xml_entities")


def xml_xxe() -> Generated:
    data = b'<?xml version="1.0"?>' + XXE + b"<foo>&xxe;</foo>"
    return "xxe.xml", data, expect("xml_entities")


def xml_deep_nesting() -> Generated:
    depth = 100_000
    return "deep.xml", b"<a>" * depth + b"x" + b"</a>" * depth, expect("nesting_too_deep")


def html_deep_nesting() -> Generated:
    """100,000 nested divs: the HTML parser caps depth itself; text still comes out."""
    depth = 100_000
    return "deep.html", b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>", expect(OK)


def json_deep_nesting() -> Generated:
    depth = 100_000
    return "deep.json", b"[" * depth + b"]" * depth, expect("nesting_too_deep")


def csv_giant_field() -> Generated:
    """A quoted field that never ends: 10 MB in one cell."""
    return "giant.csv", b'a,b\n"' + b"x" * (10 * 1024 * 1024) + b"\n", expect("malformed")


def eml_deep_multipart() -> Generated:
    """A message whose MIME parts nest 200 levels deep."""
    depth = 200
    head = b"From: a@example.com\nTo: b@example.com\nSubject: deep\nMIME-Version: 1.0\n"
    body = b""
    for level in range(depth):
        body += b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (level, level)
    body += b"Content-Type: text/plain\n\nhello\n"
    for level in reversed(range(depth)):
        body += b"--b%d--\n" % level
    return "deep.eml", head + body, expect("nesting_too_deep")


# --- zip containers -------------------------------------------------------------------


def docx_zip_bomb() -> Generated:
    """One 300 MB part in a ~300 KB file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", CONTENT_TYPES)
        zf.writestr("_rels/.rels", RELS)
        zf.writestr("word/document.xml", document_xml())
        with zf.open("word/media/padding.bin", "w", force_zip64=True) as fh:
            block = b"\0" * (1024 * 1024)
            for _ in range(300):
                fh.write(block)
    return "bomb.docx", buffer.getvalue(), expect("zip_bomb")


def docx_too_many_entries() -> Generated:
    entries = {f"word/media/{i}.xml": b"" for i in range(10_050)}
    return "entries.docx", docx(extra=entries), expect("zip_bomb")


def docx_xxe() -> Generated:
    body = b"<w:p><w:r><w:t>&xxe;</w:t></w:r></w:p>"
    return "xxe.docx", docx(document_xml(body, prolog=XXE)), expect("xml_entities")


def docx_billion_laughs() -> Generated:
    body = b"<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>"
    return "laughs.docx", docx(document_xml(body, prolog=LAUGHS)), expect("xml_entities")


def docx_zip_slip() -> Generated:
    return "slip.docx", docx(extra={"../../evil.sh": b"#!/bin/sh\nrm -rf /\n"}), expect("unsafe_archive")


def docx_absolute_path_entry() -> Generated:
    return "abs.docx", docx(extra={"/etc/cron.d/evil": b"* * * * * root true\n"}), expect("unsafe_archive")


def docx_pk_random() -> Generated:
    rng = random.Random(42)
    return "random.docx", b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(4096)), expect("malformed")


def docx_missing_document() -> Generated:
    """A zip that says it is OOXML but has no main part: not a Word document."""
    data = build_zip({"[Content_Types].xml": CONTENT_TYPES, "_rels/.rels": RELS})
    return "hollow.docx", data, expect("type_mismatch")


def xlsx_that_is_a_docx() -> Generated:
    return "sheet.xlsx", docx(), expect("type_mismatch")


def epub_with_entities() -> Generated:
    container = (
        b'<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        b'<rootfiles><rootfile full-path="content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
        b"</container>"
    )
    opf = (
        b'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        b'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title></metadata>'
        b'<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>'
        b'<spine><itemref idref="c1"/></spine></package>'
    )
    chapter = b'<?xml version="1.0"?>' + LAUGHS + b"<html><body><p>&lol9;</p></body></html>"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", container, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("content.opf", opf, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("c1.xhtml", chapter, compress_type=zipfile.ZIP_DEFLATED)
    return "laughs.epub", buffer.getvalue(), expect("xml_entities")


# --- legacy Office (OLE) ---------------------------------------------------------------


def doc_piece_table_past_stream() -> Generated:
    from tests.legacy_office import word_document

    return "past.doc", word_document("Short text.\r", piece_fc=50_000_000), expect("malformed")


def doc_fib_claims_gigabytes() -> Generated:
    """The FIB says the main text is 2 GB long; the piece table holds a dozen characters."""
    from tests.legacy_office import word_document

    return "giga.doc", word_document("Short text.\r", ccp_text=2**31), expect("malformed")


def doc_encrypted() -> Generated:
    from tests.legacy_office import word_document

    return "locked.doc", word_document("Secret.\r", encrypted=True), expect("encrypted")


def doc_random_ole_streams() -> Generated:
    """A real OLE container whose WordDocument stream is noise."""
    from tests.legacy_office import compound_file

    rng = random.Random(7)
    noise = bytes(rng.randrange(256) for _ in range(8192))
    return "noise.doc", compound_file({"WordDocument": noise, "1Table": noise}), expect("malformed")


def ppt_records_nest_10000_deep() -> Generated:
    from tests.legacy_office import presentation

    return "deep.ppt", presentation([("Title", "Body", "", "")], nest=10_000), expect("nesting_too_deep")


def ppt_edit_chain_loops() -> Generated:
    """The newest edit names itself as the previous one: read once, then stop."""
    from tests.legacy_office import presentation

    return "loop.ppt", presentation([("Title", "Body", "", "")], edit_loops=True), expect(OK)


def ppt_slides_point_back_at_the_document() -> Generated:
    """Every slide's persist entry loops back to the document record."""
    from tests.legacy_office import presentation

    data = presentation([("One", "Body", "", ""), ("Two", "Body", "", "")], slides_at_document=True)
    return "cycle.ppt", data, expect(OK)


def ppt_record_longer_than_stream() -> Generated:
    from tests.legacy_office import presentation

    return "long.ppt", presentation([("Title", "Body", "", "")], overlong_slide=True), expect("malformed")


def ppt_encrypted() -> Generated:
    from tests.legacy_office import presentation

    return "locked.ppt", presentation([("Title", "Body", "", "")], encrypted=True), expect("encrypted")


# --- Outlook MSG (compound file read by aegis.formats.cfb) --------------------------------


def _outlook(mutate: Callable[[bytearray, int, int], None] | None = None) -> bytes:
    """A minimal MSG (a plain-text note) whose body stream ``mutate(data, entry, fat)`` may break.

    ``entry`` is the byte offset of the body's directory entry, ``fat`` that of the FAT.
    """
    import struct

    from tests.legacy_office import compound_file

    body_name = "__substg1.0_1000001F"
    data = bytearray(
        compound_file(
            {
                "__substg1.0_001A001F": "IPM.Note".encode("utf-16-le"),
                "__substg1.0_0037001F": "Hostile".encode("utf-16-le"),
                body_name: "Body text.".encode("utf-16-le"),
                "__properties_version1.0": bytes(32),
            }
        )
    )
    if mutate is not None:
        fat_count = struct.unpack_from("<I", data, 0x2C)[0]
        mutate(data, data.find(body_name.encode("utf-16-le")), len(data) - fat_count * 512)
    return bytes(data)


def msg_minimal() -> Generated:
    """The control for the cases below: the same message, unbroken, reads."""
    return "note.msg", _outlook(), expect(OK)


def msg_fat_chain_loops() -> Generated:
    """The body's second sector points back at its first."""

    def mutate(data: bytearray, entry: int, fat: int) -> None:
        start = int.from_bytes(data[entry + 116 : entry + 120], "little")
        data[fat + (start + 1) * 4 : fat + (start + 2) * 4] = start.to_bytes(4, "little")

    return "loop.msg", _outlook(mutate), expect("malformed")


def msg_directory_loops() -> Generated:
    """The body's directory entry names itself as its right sibling."""

    def mutate(data: bytearray, entry: int, fat: int) -> None:
        own = (entry - data.find("Root Entry".encode("utf-16-le"))) // 128
        data[entry + 72 : entry + 76] = own.to_bytes(4, "little")

    return "dirloop.msg", _outlook(mutate), expect("malformed")


def msg_stream_past_the_end() -> Generated:
    def mutate(data: bytearray, entry: int, fat: int) -> None:
        data[entry + 116 : entry + 120] = (10_000_000).to_bytes(4, "little")

    return "past.msg", _outlook(mutate), expect("malformed")


def msg_stream_claims_gigabytes() -> Generated:
    def mutate(data: bytearray, entry: int, fat: int) -> None:
        data[entry + 120 : entry + 124] = (2**31).to_bytes(4, "little")

    return "giga.msg", _outlook(mutate), expect("malformed")


def msg_truncated() -> Generated:
    """The directory and FAT are cut off."""
    return "cut.msg", _outlook()[:2048], expect("malformed")


# --- names and sizes -------------------------------------------------------------------


def empty_file() -> Generated:
    return "empty.pdf", b"", expect("empty_file")


def name_path_traversal() -> Generated:
    return "../../x.pdf", simple_pdf(), expect(OK)


def name_percent_nul_exe() -> Generated:
    """``%00`` is not a NUL, so the real extension is .exe."""
    return "a.pdf%00.exe", simple_pdf(), expect("unsupported_format")


def name_real_nul_exe() -> Generated:
    return "a.pdf\x00.exe", simple_pdf(), expect("unsupported_format")


def name_300_chars() -> Generated:
    return "n" * 300 + ".pdf", simple_pdf(), expect(OK)


def name_windows_reserved() -> Generated:
    return "CON.pdf", simple_pdf(), expect(OK)


def name_empty() -> Generated:
    """No name at all: the content decides."""
    return "", simple_pdf(), expect(OK)


def unknown_extension() -> Generated:
    return "tool.exe", os.urandom(64), expect("unsupported_format")


CASES: dict[str, Callable[[], Generated]] = {
    fn.__name__: fn
    for fn in (
        pdf_flate_bomb_with_font,
        pdf_nested_flate,
        pdf_huge_length,
        pdf_self_referencing_kids,
        pdf_cyclic_outline,
        pdf_prev_loop,
        pdf_nested_arrays,
        pdf_20000_pages,
        pdf_20000_pages_lying_count,
        pdf_truncated,
        pdf_header_only,
        pdf_junk_before_header,
        pdf_far_junk_before_header,
        pdf_with_zip_appended,
        pdf_javascript,
        pdf_encrypted,
        exe_renamed_pdf,
        html_renamed_txt,
        invalid_utf8_text,
        bidi_and_zero_width,
        xml_billion_laughs,
        xml_xxe,
        xml_deep_nesting,
        html_deep_nesting,
        json_deep_nesting,
        csv_giant_field,
        eml_deep_multipart,
        docx_zip_bomb,
        docx_too_many_entries,
        docx_xxe,
        docx_billion_laughs,
        docx_zip_slip,
        docx_absolute_path_entry,
        docx_pk_random,
        docx_missing_document,
        xlsx_that_is_a_docx,
        epub_with_entities,
        doc_piece_table_past_stream,
        doc_fib_claims_gigabytes,
        doc_encrypted,
        doc_random_ole_streams,
        ppt_records_nest_10000_deep,
        ppt_edit_chain_loops,
        ppt_slides_point_back_at_the_document,
        ppt_record_longer_than_stream,
        ppt_encrypted,
        msg_minimal,
        msg_fat_chain_loops,
        msg_directory_loops,
        msg_stream_past_the_end,
        msg_stream_claims_gigabytes,
        msg_truncated,
        empty_file,
        name_path_traversal,
        name_percent_nul_exe,
        name_real_nul_exe,
        name_300_chars,
        name_windows_reserved,
        name_empty,
        unknown_extension,
    )
}
