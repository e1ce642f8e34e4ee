"""Outlook MSG: the same fields as EML, read from the compound file's streams.

An ordinary mail (message class ``IPM.Note``, Unicode strings, a plain-text or
HTML body, attachments stored by value) is read by :mod:`aegis.formats.mapi` in
one pass over the file's bytes: the transport headers, the subject, sender and
body streams, the property stream's send date and flags, the recipient and
attachment storages. extract-msg opened the file three times and built an
object per property (~30 ms against ~1 ms, and up to ~100 ms when RTFDE parsed
an RTF body), so it is kept only for what the fast path does not read: other
message classes (meetings, contacts, tasks), signed mail, 8-bit (code page)
strings, HTML encapsulated in RTF or a body kept only as RTF, embedded
messages and attachments not stored by value. The fast path answers the same
fields extract-msg answers for the mails it takes (a unit test compares both on
the corpus messages and variants of them). Headers, the plain body (or the HTML
body converted to visible text) and attachments by name, type and size are
read; nothing is saved to disk.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aegis.formats import mapi
from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.dates import iso_date
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

MAX_ATTACHMENTS = 1000


@contextlib.contextmanager
def _open(path: Path) -> Iterator[Any]:
    import extract_msg

    # extract-msg logs every unknown property at WARNING; that is noise for us.
    logging.getLogger("extract_msg").setLevel(logging.ERROR)
    try:
        message = extract_msg.openMsg(str(path), delayAttachments=False)
    except Exception as exc:  # noqa: BLE001 - extract-msg raises many types on damaged files
        raise DocumentError(ErrorCode.MALFORMED, "The Outlook message is damaged and cannot be read.") from exc
    try:
        yield message
    finally:
        with contextlib.suppress(Exception):
            message.close()


def _get(message: Any, name: str) -> Any:
    try:
        return getattr(message, name, None)
    except Exception:  # noqa: BLE001 - properties decode lazily and may fail individually
        return None


def _text(value: Any, limit: int = 5000) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return clean_inline(str(value), limit) or None


def _body(message: Any) -> str:
    body = _get(message, "body")
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body and str(body).strip():
        return clean_text(str(body).replace("\r\n", "\n")).strip()
    html = _get(message, "htmlBody")
    if html:
        from aegis.formats.html import html_to_text

        markup = html.decode("utf-8", "replace") if isinstance(html, bytes) else str(html)
        return html_to_text(markup)
    return ""


def _attachments(message: Any) -> list[dict[str, Any]]:
    out = []
    for attachment in list(_get(message, "attachments") or [])[:MAX_ATTACHMENTS]:
        data = _get(attachment, "data")
        name = _get(attachment, "longFilename") or _get(attachment, "shortFilename")
        size = len(data) if isinstance(data, bytes) else 0
        out.append(
            drop_empty({"name": _text(name, 255), "type": _text(_get(attachment, "mimetype"), 200)}) | {"size": size}
        )
    return out


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    compound = detection.container if detection is not None else None
    if mapi.read(path, limits, attachments=False, compound=compound) is None:
        with _open(path) as message:
            _get(message, "subject")
    return {}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    fast = mapi.read(path, limits, attachments=False)
    with contextlib.nullcontext(fast) if fast is not None else _open(path) as message:
        head = [
            f"{label}: {value}"
            for label, attr in (
                ("From", "sender"),
                ("To", "to"),
                ("Cc", "cc"),
                ("Subject", "subject"),
                ("Date", "date"),
            )
            if (value := _text(_get(message, attr)))
        ]
        body = _body(message)
    text = "\n".join(head) + ("\n\n" + body if body else "")
    return cap_pages_text([Page(number=1, text=text.strip())], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    fast = mapi.read(path, limits, attachments=True)
    with contextlib.nullcontext(fast) if fast is not None else _open(path) as message:
        subject = _text(_get(message, "subject"))
        sender = _text(_get(message, "sender"))
        date = _get(message, "date")
        attachments = _attachments(message)
        types = {a.get("type") for a in attachments}
        encrypted = bool(types & {"application/pgp-encrypted", "application/pkcs7-mime"})
        detail = drop_empty(
            {
                "from": sender,
                "to": _text(_get(message, "to")),
                "cc": _text(_get(message, "cc")),
                "bcc": _text(_get(message, "bcc")),
                "subject": subject,
                "date": iso_date(date),
                "message_id": _text(_get(message, "messageId")),
                "attachments": attachments,
            }
        ) | {"attachments": attachments}
    return drop_empty(
        {
            "pages": 1,
            "title": subject,
            "author": sender,
            "subject": subject,
            "created_at": iso_date(date),
            "email": detail,
        }
    ) | {"pages": 1, "encrypted": encrypted}


#: Outlook messages (MSG).
FAMILY = ModuleFamily(
    "msg",
    (FileType("msg", "application/vnd.ms-outlook"),),
    __name__,
)
