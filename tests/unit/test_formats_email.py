"""Email: EML headers, body preference, attachments; MSG from the corpus."""

from __future__ import annotations

import json
from email.message import EmailMessage
from pathlib import Path

import pytest

from aegis.formats import DocumentError, Limits, extract_metadata, extract_pages, validate
from tests.corpus import CORPUS as CORPUS_ROOT

LIMITS = Limits()
CORPUS = CORPUS_ROOT / "email"
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not present")


def message(plain: str | None = "Plain body text for the reader.", html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@example.com>"
    msg["To"] = "Charles <charles@example.com>"
    msg["Cc"] = "team@example.com"
    msg["Subject"] = "=?utf-8?q?R=C3=A9union_demain?="
    msg["Date"] = "Tue, 01 Oct 2024 12:34:56 -0500"
    msg["Message-ID"] = "<abc@example.com>"
    if plain is not None:
        msg.set_content(plain)
    if html is not None:
        if plain is None:
            msg.set_content(html, subtype="html")
        else:
            msg.add_alternative(html, subtype="html")
    return msg


def process(tmp_path: Path, data: bytes, filename: str = "mail.eml") -> tuple[dict, str]:
    path = tmp_path / "blob"
    path.write_bytes(data)
    detection = validate(path, filename, LIMITS)
    meta = extract_metadata(path, detection, LIMITS)
    json.dumps(meta)
    return meta, "\n".join(p.text for p in extract_pages(path, detection, LIMITS))


def test_eml_headers_are_normalised(tmp_path: Path) -> None:
    meta, _ = process(tmp_path, bytes(message()))
    email = meta["email"]
    assert email["from"] == "Ada Lovelace <ada@example.com>"
    assert email["to"] == "Charles <charles@example.com>"
    assert email["cc"] == "team@example.com"
    assert email["subject"] == "Réunion demain"
    assert email["message_id"] == "<abc@example.com>"
    assert meta["title"] == meta["subject"] == "Réunion demain"
    assert meta["author"] == "Ada Lovelace <ada@example.com>"
    assert meta["created_at"] == "2024-10-01T12:34:56-05:00"


def test_plain_text_is_preferred_over_html(tmp_path: Path) -> None:
    _, text = process(tmp_path, bytes(message(html="<p>HTML version</p>")))
    assert "Plain body text" in text
    assert "HTML version" not in text


def test_html_only_mail_is_converted_to_visible_text(tmp_path: Path) -> None:
    html = "<html><head><style>p{}</style><script>evil()</script></head><body><p>Only HTML here</p></body></html>"
    _, text = process(tmp_path, bytes(message(plain=None, html=html)))
    assert "Only HTML here" in text
    assert "evil" not in text and "p{}" not in text


def test_attachments_are_listed_with_name_type_and_size(tmp_path: Path) -> None:
    msg = message()
    msg.add_attachment(b"%PDF-1.7 fake" * 10, maintype="application", subtype="pdf", filename="invoice.pdf")
    msg.add_attachment("a,b\n1,2\n", subtype="csv", filename="data.csv")
    meta, text = process(tmp_path, bytes(msg))
    assert meta["email"]["attachments"] == [
        {"name": "invoice.pdf", "type": "application/pdf", "size": 130},
        {"name": "data.csv", "type": "text/csv", "size": 8},
    ]
    assert "a,b" not in text


def test_utf16_saved_mail_is_read(tmp_path: Path) -> None:
    meta, text = process(tmp_path, bytes(message()).decode().encode("utf-16"))
    assert meta["email"]["subject"] == "Réunion demain"
    assert "Plain body text" in text


def test_text_without_headers_named_eml_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"\n\njust a body with no headers at all\n")
    with pytest.raises(DocumentError) as caught:
        validate(path, "x.eml", LIMITS)
    assert caught.value.code == "malformed"


@needs_corpus
def test_encrypted_eml_is_accepted_with_headers_and_flagged() -> None:
    path = CORPUS / "eml__fake-encrypted.eml"
    detection = validate(path, path.name, LIMITS)
    meta = extract_metadata(path, detection, LIMITS)
    assert meta["encrypted"] is True
    assert meta["email"]["from"] == "Michael Elkins <elkins@aero.org>"


@needs_corpus
def test_msg_headers_body_and_recipients() -> None:
    path = CORPUS / "fake-email-with-cc-and-bcc.msg"
    detection = validate(path, path.name, LIMITS)
    assert detection.family == "msg"
    meta = extract_metadata(path, detection, LIMITS)
    assert meta["subject"] == "Fake email with cc and bcc recipients"
    assert "johnjennings702@gmail.com" in meta["email"]["from"]
    assert meta["email"]["cc"] == "steve@unstructured.io"
    assert meta["created_at"] == "2024-07-29T20:38:11+00:00"
    text = extract_pages(path, detection, LIMITS)[0].text
    assert "This is a test email" in text


@needs_corpus
def test_encrypted_msg_lists_its_encrypted_payload() -> None:
    path = CORPUS / "fake-encrypted.msg"
    meta = extract_metadata(path, validate(path, path.name, LIMITS), LIMITS)
    assert meta["encrypted"] is True
    assert {a["type"] for a in meta["email"]["attachments"]} >= {"application/pgp-encrypted"}
