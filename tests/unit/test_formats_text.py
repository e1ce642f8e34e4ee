"""Plain text in any encoding, Markdown/RST/Org, HTML, CSV/TSV, JSON/NDJSON and XML."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pytest

from aegis.formats import Detection, DocumentError, Limits, extract_metadata, extract_pages, validate

LIMITS = Limits()
SAMPLE = "Grüße aus Köln – naïve café, 5 €.\nZweite Zeile mit Umlauten: äöüß ÄÖÜ.\n"


def process(tmp_path: Path, filename: str, data: bytes) -> tuple[Detection, dict, str]:
    path = tmp_path / "blob"
    path.write_bytes(data)
    detection = validate(path, filename, LIMITS)
    meta = extract_metadata(path, detection, LIMITS)
    pages = extract_pages(path, detection, LIMITS)
    json.dumps(meta)
    return detection, meta, "\n".join(p.text for p in pages)


def rejection(tmp_path: Path, filename: str, data: bytes) -> str:
    path = tmp_path / "blob"
    path.write_bytes(data)
    with pytest.raises(DocumentError) as caught:
        detection = validate(path, filename, LIMITS)
        extract_pages(path, detection, LIMITS)
    return caught.value.code


@pytest.mark.parametrize(
    "encoded",
    [
        SAMPLE.encode("utf-8"),
        codecs.BOM_UTF8 + SAMPLE.encode("utf-8"),
        SAMPLE.encode("utf-16"),  # with BOM
        SAMPLE.encode("utf-16-le"),
        SAMPLE.encode("utf-16-be"),
        SAMPLE.encode("utf-32"),
        SAMPLE.encode("utf-32-le"),
        SAMPLE.encode("cp1252"),
    ],
    ids=["utf8", "utf8-bom", "utf16-bom", "utf16le", "utf16be", "utf32-bom", "utf32le", "cp1252"],
)
def test_plain_text_is_decoded_whatever_the_encoding(tmp_path: Path, encoded: bytes) -> None:
    detection, meta, text = process(tmp_path, "notes.txt", encoded)
    assert detection.family == "text"
    assert text == SAMPLE.strip("\n") or text.rstrip("\n") == SAMPLE.rstrip("\n")
    assert "\ufeff" not in text


def test_cp1252_is_detected_by_content_not_assumed() -> None:
    from aegis.formats.encoding import detect_encoding

    data = ("Cette réunion a été très productive, merci à tous. " * 20).encode("cp1252")
    assert detect_encoding(data).replace("_", "-") in {
        "cp1252",
        "windows-1252",
        "latin-1",
        "iso8859-1",
        "cp1250",
        "iso8859-15",
    }
    assert data.decode(detect_encoding(data)).startswith("Cette réunion")


def test_form_feeds_split_plain_text_into_pages(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"page one\fpage two\fpage three")
    detection = validate(path, "report.txt", LIMITS)
    assert [p.text for p in extract_pages(path, detection, LIMITS)] == ["page one", "page two", "page three"]


def test_markdown_title_comes_from_the_first_heading(tmp_path: Path) -> None:
    _, meta, text = process(tmp_path, "README.md", b"Intro line\n\n# Project Aegis\n\nSome text here.\n")
    assert meta["title"] == "Project Aegis"
    assert meta["text"]["markup"] == "markdown"
    assert "# Project Aegis" in text


def test_rst_and_org_titles(tmp_path: Path) -> None:
    _, rst, _ = process(tmp_path, "doc.rst", b"Aegis Manual\n============\n\nBody.\n")
    assert rst["title"] == "Aegis Manual"
    _, org, _ = process(tmp_path, "doc.org", b"#+TITLE: Org Notes\n* Heading\nBody\n")
    assert org["title"] == "Org Notes"


def test_whitespace_only_text_is_an_empty_file(tmp_path: Path) -> None:
    assert rejection(tmp_path, "blank.txt", b"   \n\n\t  \n") == "empty_file"


def test_binary_data_named_txt_is_a_type_mismatch(tmp_path: Path) -> None:
    assert rejection(tmp_path, "data.txt", bytes(range(256)) * 20) == "type_mismatch"


def test_nul_characters_never_reach_the_text(tmp_path: Path) -> None:
    _, _, text = process(tmp_path, "nul.txt", b"plain words " * 50 + b"abc\x00def")
    assert "\x00" not in text
    assert "abcdef" in text


# --- HTML -------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html><html lang="fr"><head><title>Bonjour</title>
<meta name="author" content="Marie Curie"><meta name="description" content="A page">
<style>body { color: red } .secret { }</style><script>var secret = "do not index";</script></head>
<body><h1>Titre principal</h1><p>Premier paragraphe avec un <a href="/x">lien</a>.</p>
<noscript>enable javascript</noscript><template><p>template text</p></template>
<ul><li>un</li><li>deux</li></ul><table><tr><td>a</td><td>b</td></tr></table>
<p>Dernier paragraphe, assez long pour que la langue soit reconnue sans aucune ambiguïté.</p>
<a href="https://example.com">deux</a><script>alert("x")</script></body></html>""".encode()


def test_html_text_is_visible_text_only(tmp_path: Path) -> None:
    detection, _, text = process(tmp_path, "page.html", PAGE)
    assert detection.family == "html"
    assert "Titre principal" in text and "Premier paragraphe avec un lien." in text
    for hidden in ("secret", "alert", "color: red", "enable javascript", "template text", "Bonjour"):
        assert hidden not in text
    assert "un\n\ndeux" in text


def test_html_metadata_has_title_lang_author_and_links(tmp_path: Path) -> None:
    _, meta, _ = process(tmp_path, "page.html", PAGE)
    assert meta["title"] == "Bonjour"
    assert meta["author"] == "Marie Curie"
    assert meta["html"]["lang"] == "fr"
    assert meta["html"]["links"] == 2
    assert meta["language"] == "fr"


def test_html_declared_in_meta_charset_is_decoded(tmp_path: Path) -> None:
    page = '<html><head><meta charset="windows-1252"></head><body><p>Crème brûlée à la française</p></body></html>'
    _, _, text = process(tmp_path, "p.htm", page.encode("cp1252"))
    assert "Crème brûlée à la française" in text


def test_html_renamed_txt_is_a_type_mismatch(tmp_path: Path) -> None:
    assert rejection(tmp_path, "notes.txt", PAGE) == "type_mismatch"


def test_markdown_with_inline_html_is_still_markdown(tmp_path: Path) -> None:
    detection, _, text = process(tmp_path, "x.md", b"<div align='center'>Logo</div>\n\n# Title\n\nText.\n")
    assert detection.family == "text"
    assert "# Title" in text


# --- CSV / TSV --------------------------------------------------------------------------


@pytest.mark.parametrize(("delimiter", "name"), [(",", "t.csv"), (";", "t.csv"), ("\t", "t.tsv"), ("|", "t.csv")])
def test_csv_delimiter_is_detected(tmp_path: Path, delimiter: str, name: str) -> None:
    rows = [["name", "city", "amount"], ["Ada", "London", "1,5"], ["Grace", "New York", "2"]]
    if delimiter == ",":
        rows[1][2] = '"1,5"'
    data = "\n".join(delimiter.join(r) for r in rows).encode()
    _, meta, text = process(tmp_path, name, data)
    assert meta["csv"]["delimiter"] == delimiter
    assert meta["csv"]["header"] == ["name", "city", "amount"]
    assert meta["csv"]["rows"] == 2
    assert "Ada | London | 1,5" in text


def test_csv_quoted_newlines_stay_in_their_cell(tmp_path: Path) -> None:
    _, meta, text = process(tmp_path, "t.csv", b'a,b\n"line one\nline two",x\n')
    assert meta["csv"]["rows"] == 1
    assert "line one\nline two | x" in text


# --- JSON -------------------------------------------------------------------------------


def test_json_values_become_path_lines(tmp_path: Path) -> None:
    data = json.dumps({"user": {"name": "Ada", "langs": ["en", "fr"]}, "active": True, "empty": None}).encode()
    _, meta, text = process(tmp_path, "d.json", data)
    assert text.splitlines() == ["user.name: Ada", "user.langs[0]: en", "user.langs[1]: fr", "active: True"]
    assert meta["json"]["type"] == "object"
    assert meta["json"]["keys"] == ["user", "active", "empty"]


def test_ndjson_counts_records(tmp_path: Path) -> None:
    _, meta, text = process(tmp_path, "d.ndjson", b'{"a": 1}\n{"a": 2}\n\n{"a": 3}\n')
    assert meta["json"]["records"] == 3
    assert text.count("a: ") == 3


def test_truncated_json_is_malformed(tmp_path: Path) -> None:
    assert rejection(tmp_path, "d.json", b'{"a": [1, 2, ') == "malformed"


# --- XML --------------------------------------------------------------------------------


def test_xml_text_content_and_title(tmp_path: Path) -> None:
    data = b'<?xml version="1.0"?><book><title>Aegis</title><chapter>One <b>bold</b> tail</chapter></book>'
    detection, meta, text = process(tmp_path, "b.xml", data)
    assert detection.family == "xml"
    assert meta["title"] == "Aegis"
    assert meta["xml"]["root"] == "book"
    assert text.split("\n") == ["Aegis", "One", "bold", "tail"]


def test_xml_utf16_with_a_lying_declaration_is_read(tmp_path: Path) -> None:
    data = '<?xml version="1.0" encoding="UTF-8"?><r><t>Grüße</t></r>'.encode("utf-16")
    _, _, text = process(tmp_path, "b.xml", data)
    assert "Grüße" in text


def test_malformed_xml_is_malformed(tmp_path: Path) -> None:
    assert rejection(tmp_path, "b.xml", b"<a><b></a>") == "malformed"


def test_xml_with_an_external_dtd_but_no_entities_is_accepted(tmp_path: Path) -> None:
    data = b'<?xml version="1.0"?><!DOCTYPE note SYSTEM "note.dtd"><note>hello</note>'
    _, _, text = process(tmp_path, "n.xml", data)
    assert text == "hello"


def test_form_feeds_beyond_the_page_cap_are_refused_at_validation(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"x\f" * 20)
    with pytest.raises(DocumentError) as caught:
        validate(path, "many.txt", Limits(max_pages=10))
    assert caught.value.code == "too_many_pages"
