"""EML (RFC 5322 / MIME): headers, the body a person reads, the attachment list.

The standard library's parser with ``policy.default`` decodes encoded words and
charsets and never raises on malformed input (it records defects instead). The
body prefers text/plain, falls back to HTML converted to visible text, and
attachments are listed (name, type, size), not extracted: their content is a
document of its own.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.dates import mail_date
from aegis.formats.encoding import bom_encoding, decode_bytes
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

MAX_PARTS = 1000
MAX_DEPTH = 50


def _read(path: Path, limits: Limits) -> EmailMessage:
    with path.open("rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE)
    # Mail is bytes on the wire, but files saved by some tools are UTF-16.
    if bom_encoding(data) or data[:200].count(b"\0") > 20:
        text, _ = decode_bytes(data)
        data = text.encode("utf-8", "replace")
    if not data.strip():
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file contains only whitespace, no message.")
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    return message


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 - malformed headers raise from the header registry
        value = None
        for key, raw in message.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    if value is None:
        return None
    return clean_inline(str(value), 5000) or None


def _walk(message: EmailMessage) -> list[tuple[EmailMessage, int]]:
    """Parts with their depth, iteratively (walk() recurses on nested messages)."""
    out: list[tuple[EmailMessage, int]] = []
    stack: list[tuple[EmailMessage, int]] = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DocumentError(ErrorCode.NESTING_TOO_DEEP, "The message nests parts too deeply to be read safely.")
        out.append((part, depth))
        if len(out) > MAX_PARTS:
            raise DocumentError(ErrorCode.TOO_LARGE, f"The message has more than {MAX_PARTS} parts.")
        if part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack.extend((child, depth + 1) for child in reversed(payload) if isinstance(child, EmailMessage))
    return out


def _content(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError):
        raw = part.get_payload(decode=True)
        content = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw or "")
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return content if isinstance(content, str) else ""


def _is_attachment(part: EmailMessage) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    return (
        disposition == "attachment"
        or (bool(part.get_filename()) and disposition != "inline")
        or (disposition == "inline" and bool(part.get_filename()) and part.get_content_maintype() != "text")
    )


def _analyse(message: EmailMessage) -> tuple[str, list[dict[str, Any]]]:
    plain: list[str] = []
    html: list[str] = []
    attachments: list[dict[str, Any]] = []
    for part, _depth in _walk(message):
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if _is_attachment(part):
            payload = part.get_payload(decode=True)
            attachments.append(
                drop_empty(
                    {
                        "name": clean_inline(part.get_filename() or "", 255) or None,
                        "type": ctype,
                        "size": len(payload) if isinstance(payload, bytes) else 0,
                    }
                )
                | {"size": len(payload) if isinstance(payload, bytes) else 0}
            )
            continue
        if ctype == "text/plain":
            plain.append(_content(part))
        elif ctype == "text/html":
            html.append(_content(part))
    if any(p.strip() for p in plain):
        body = "\n\n".join(plain)
    elif html:
        from aegis.formats.html import html_to_text

        body = "\n\n".join(html_to_text(h) for h in html)
    else:
        body = ""
    return clean_text(body.replace("\r\n", "\n")).strip(), attachments


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    message = _read(path, limits)
    if not list(message.keys()):
        raise DocumentError(ErrorCode.MALFORMED, "The file has no mail headers; it is not an email message.")
    _walk(message)
    return {}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    message = _read(path, limits)
    body, _ = _analyse(message)
    head = [f"{name}: {value}" for name in ("From", "To", "Cc", "Subject", "Date") if (value := _header(message, name))]
    text = "\n".join(head) + ("\n\n" + body if body else "")
    return cap_pages_text([Page(number=1, text=text.strip())], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    message = _read(path, limits)
    _, attachments = _analyse(message)
    subject = _header(message, "Subject")
    sender = _header(message, "From")
    detail = drop_empty(
        {
            "from": sender,
            "to": _header(message, "To"),
            "cc": _header(message, "Cc"),
            "bcc": _header(message, "Bcc"),
            "reply_to": _header(message, "Reply-To"),
            "subject": subject,
            "date": _header(message, "Date"),
            "message_id": _header(message, "Message-ID"),
            "in_reply_to": _header(message, "In-Reply-To"),
            "content_type": message.get_content_type(),
            "attachments": attachments,
            "defects": len(message.defects) or None,
        }
    ) | {"attachments": attachments}
    encrypted = message.get_content_type() in {"application/pkcs7-mime", "multipart/encrypted"}
    return drop_empty(
        {
            "pages": 1,
            "title": subject,
            "author": sender,
            "subject": subject,
            "created_at": mail_date(_header(message, "Date")),
            "encrypted": encrypted,
            "email": detail,
        }
    ) | {"pages": 1, "encrypted": encrypted}


#: Internet mail messages (EML).
FAMILY = ModuleFamily(
    "email",
    (FileType("eml", "message/rfc822"),),
    __name__,
    textual=True,
)
