"""safe_filename: display names that cannot traverse, hide or impersonate."""

from __future__ import annotations

import pytest

from aegis.formats.names import MAX_NAME_CHARS, extension_of, safe_filename


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../x.pdf", "x.pdf"),
        ("..\\..\\windows\\x.pdf", "x.pdf"),
        ("/etc/passwd", "passwd"),
        ("a.pdf\x00.exe", "a.pdf.exe"),
        ("CON.pdf", "_CON.pdf"),
        ("con", "_con"),
        ("LPT1.txt", "_LPT1.txt"),
        ("", "upload"),
        ("   ", "upload"),
        ("..", "upload"),
        ("/", "upload"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("new\nline\r.txt", "newline.txt"),
        ('what?<>:"|*.txt', "what_______.txt"),
        ("trailing dots...", "trailing dots"),
        (".hidden", "hidden"),
        ("Caf\u0065\u0301.pdf", "Caf\u00e9.pdf"),
    ],
)
def test_safe_filename_neutralises_hostile_names(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


def test_long_names_are_capped_and_keep_their_extension() -> None:
    name = safe_filename("n" * 300 + ".pdf")
    assert len(name) == MAX_NAME_CHARS
    assert name.endswith(".pdf")


def test_long_names_without_extension_are_capped() -> None:
    assert len(safe_filename("x" * 1000)) == MAX_NAME_CHARS


def test_percent_encoded_nul_is_not_decoded() -> None:
    assert safe_filename("a.pdf%00.exe") == "a.pdf%00.exe"
    assert extension_of("a.pdf%00.exe") == "exe"


@pytest.mark.parametrize(
    ("raw", "extension"),
    [("a.PDF", "pdf"), ("archive.tar.gz", "gz"), ("noext", ""), (".bashrc", ""), ("", ""), ("dir/x.docx", "docx")],
)
def test_extension_of_reads_the_last_suffix_in_lower_case(raw: str, extension: str) -> None:
    assert extension_of(raw) == extension
