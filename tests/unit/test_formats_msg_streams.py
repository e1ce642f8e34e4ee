"""The MSG fast path (aegis.formats.mapi) answers what extract-msg answers, or steps aside.

Variants of the corpus messages are written with extract-msg's own OLE writer:
without transport headers (fields then come from the recipient storages and
the sender streams), with an HTML body only, with 8-bit strings (left to
extract-msg). For each one the fast path either returns exactly extract-msg's
fields or returns None, and the tests say which, so a silent fallback cannot
hide a difference and a silent difference cannot pass as a fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aegis.formats import Limits, extract_metadata, extract_pages, mapi, validate
from tests.corpus import CORPUS

EMAIL = CORPUS / "email"
needs_corpus = pytest.mark.skipif(not EMAIL.is_dir(), reason="shared corpus not present")
LIMITS = Limits()
FIELDS = ("subject", "sender", "to", "cc", "bcc", "date", "messageId", "body")


def _extract_msg_fields(path: Path) -> dict[str, Any]:
    import extract_msg

    message = extract_msg.openMsg(str(path), delayAttachments=False)
    try:
        fields = {name: getattr(message, name) for name in FIELDS}
        fields["attachments"] = [
            (a.data if isinstance(a.data, bytes) else None, a.longFilename, a.shortFilename, a.mimetype)
            for a in message.attachments
        ]
        return fields
    finally:
        message.close()


def _fast_fields(path: Path) -> dict[str, Any] | None:
    message = mapi.read(path, LIMITS, attachments=True)
    if message is None:
        return None
    fields = {name: getattr(message, name) for name in FIELDS}
    fields["attachments"] = [(a.data, a.longFilename, a.shortFilename, a.mimetype) for a in message.attachments]
    return fields


def _variant(tmp_path: Path, source: str, edit: Callable[[Any], None]) -> Path:
    import olefile
    from extract_msg.ole_writer import OleWriter

    writer = OleWriter()
    with olefile.OleFileIO(str(EMAIL / source)) as ole:
        writer.fromOleFile(ole)
    edit(writer)
    path = tmp_path / f"variant-{source}"
    writer.write(str(path))
    return path


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _no_headers(writer: Any) -> None:
    writer.deleteEntry("__substg1.0_007D001F")
    writer.addEntry("__substg1.0_5D01001F", _utf16("ada@example.com"))


def _html_only(writer: Any) -> None:
    writer.editEntry("__substg1.0_1000001F", data=b"")
    writer.addEntry("__substg1.0_10130102", b"<html><body><p>Hello <b>HTML</b> body</p></body></html>")


def _folded_encoded_header(writer: Any) -> None:
    header = "From: =?utf-8?q?Ren=C3=A9e?= <renee@example.com>\r\nTo: a@example.com,\r\n\tb@example.com\r\n\r\n"
    writer.editEntry("__substg1.0_007D001F", data=_utf16(header))


def _eight_bit_subject(writer: Any) -> None:
    writer.deleteEntry("__substg1.0_0037001F")
    writer.addEntry("__substg1.0_0037001E", "Caf\xe9".encode("cp1252"))


def _meeting(writer: Any) -> None:
    writer.editEntry("__substg1.0_001A001F", data=_utf16("IPM.Schedule.Meeting.Request"))


FAST = {
    "as is": None,
    "no transport headers": _no_headers,
    "HTML body only": _html_only,
    "folded, encoded headers": _folded_encoded_header,
}
FALLBACK = {"8-bit subject": _eight_bit_subject, "meeting request": _meeting}


@needs_corpus
@pytest.mark.parametrize("source", ["fake-email-with-cc-and-bcc.msg", "fake-encrypted.msg"])
@pytest.mark.parametrize("variant", sorted(FAST))
def test_fast_path_gives_extract_msg_fields(source: str, variant: str, tmp_path: Path) -> None:
    edit = FAST[variant]
    path = EMAIL / source if edit is None else _variant(tmp_path, source, edit)
    fast = _fast_fields(path)
    assert fast is not None, "this message is one the fast path reads"
    assert fast == _extract_msg_fields(path)


@needs_corpus
@pytest.mark.parametrize("variant", sorted(FALLBACK))
def test_what_the_fast_path_does_not_read_goes_to_extract_msg(variant: str, tmp_path: Path) -> None:
    path = _variant(tmp_path, "fake-email-with-cc-and-bcc.msg", FALLBACK[variant])
    assert mapi.read(path, LIMITS, attachments=True) is None
    if variant == "8-bit subject":  # still read, by extract-msg, through the usual entry points
        detection = validate(path, path.name, LIMITS)
        assert "johnjennings702@gmail.com" in extract_metadata(path, detection, LIMITS)["email"]["from"]
        assert "This is a test email" in extract_pages(path, detection, LIMITS)[0].text


@needs_corpus
def test_recipients_come_from_their_storages_without_headers(tmp_path: Path) -> None:
    path = _variant(tmp_path, "fake-email-with-cc-and-bcc.msg", _no_headers)
    fast = _fast_fields(path)
    assert fast is not None
    assert fast["bcc"] == "hello@unstructured.io <hello@unstructured.io>"
    assert fast["sender"].endswith("<ada@example.com>")


@needs_corpus
def test_html_only_message_text_is_the_visible_html(tmp_path: Path) -> None:
    path = _variant(tmp_path, "fake-email-with-cc-and-bcc.msg", _html_only)
    text = extract_pages(path, validate(path, path.name, LIMITS), LIMITS)[0].text
    assert "Hello HTML body" in text
    assert "<b>" not in text
