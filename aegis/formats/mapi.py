"""An Outlook message's fields read straight from its MAPI property streams ([MS-OXMSG]).

:func:`read` answers the fields aegis.formats.msg uses, computed as extract-msg
computes them for an ordinary mail, from one read of the file
(aegis.formats.cfb). It returns None, and the caller falls back to extract-msg,
for what it does not reproduce: message classes other than ``IPM.Note`` (or a
signed note), 8-bit strings in the message's code page, a body kept only as RTF
or HTML, embedded messages as attachments. A damaged container is
``malformed`` here, as extract-msg's failure to open it was.
"""

from __future__ import annotations

import email.header
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import Message as HeaderMessage
from email.parser import HeaderParser
from pathlib import Path

from aegis.formats.base import DocumentError, Limits
from aegis.formats.cfb import STORAGE, CfbError, CompoundFile, open_compound
from aegis.vocabulary import ErrorCode

_PROPERTIES = "__properties_version1.0"
# FILETIME of 1970-01-01, and the value past which extract-msg makes "null dates".
_EPOCH_FILETIME = 116444736000000000
_NULL_DATES = 915000000000000000
_UNSENT = 0x8  # MSGFLAG_UNSENT in PR_MESSAGE_FLAGS
_TO, _CC, _BCC = 1, 2, 3
MAX_RECIPIENTS = 10_000
# Masks of the fixed-size property types narrower than their 8-byte slot: PT_SHORT, PT_LONG, PT_BOOLEAN.
_WIDTH = {0x0002: 0xFFFF, 0x0003: 0xFFFFFFFF, 0x000B: 0xFFFF}


class _Unsupported(Exception):
    """Something extract-msg reads differently from this reader: let it decide."""


@dataclass
class Attachment:
    """What aegis.formats.msg lists of an attachment (extract-msg's attribute names)."""

    data: bytes | None
    longFilename: str | None  # noqa: N815 - extract-msg's names, so one lister serves both
    shortFilename: str | None  # noqa: N815
    mimetype: str | None


@dataclass
class Message:
    """An ordinary mail's fields, under the attribute names extract-msg's Message uses."""

    subject: str | None
    sender: str | None
    to: str | None
    cc: str | None
    bcc: str | None
    date: datetime | None
    messageId: str | None  # noqa: N815
    body: str
    htmlBody: bytes | None = None  # noqa: N815
    attachments: list[Attachment] = field(default_factory=list)


class _Store:
    """String and property reads under one storage of the compound file."""

    def __init__(self, cfb: CompoundFile, prefix: str) -> None:
        self.cfb = cfb
        self.prefix = prefix

    def string(self, tag: str) -> str | None:
        """A PT_UNICODE stream (``tag`` like ``0037``); an 8-bit one is left to extract-msg."""
        raw = self.cfb.read(f"{self.prefix}__substg1.0_{tag}001F")
        if raw is None:
            if self.cfb.read(f"{self.prefix}__substg1.0_{tag}001E") is not None:
                raise _Unsupported("8-bit string")
            return None
        try:
            return raw.decode("utf-16-le")
        except UnicodeDecodeError as exc:
            raise _Unsupported("undecodable string") from exc

    def properties(self, header: int) -> dict[int, int]:
        """Fixed-size property values by (id << 16 | type) from the property stream."""
        raw = self.cfb.read(f"{self.prefix}{_PROPERTIES}") or b""
        values: dict[int, int] = {}
        body = raw[header : header + (len(raw) - header) // 16 * 16] if len(raw) > header else b""
        for kind, ident, _flags, value in struct.iter_unpack("<HHIQ", body):
            # Values narrower than 8 bytes leave the rest reserved, and writers leave garbage there.
            values[ident << 16 | kind] = value & _WIDTH.get(kind, 0xFFFFFFFFFFFFFFFF)
        return values


def read(path: Path, limits: Limits, *, attachments: bool, compound: object = None) -> Message | None:
    """The mail's fields, or None when extract-msg must read it; ``malformed`` if damaged.

    ``compound`` is the container sniffing already parsed, when validate lends it.
    """
    try:
        cfb = compound if isinstance(compound, CompoundFile) else open_compound(path, limits.max_bytes)
    except CfbError as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The Outlook message is damaged and cannot be read.") from exc
    except OSError as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The Outlook message could not be read.", rejected=False) from exc
    try:
        return _message(cfb, attachments=attachments)
    except _Unsupported:
        return None
    except CfbError as exc:
        raise DocumentError(ErrorCode.MALFORMED, "The Outlook message is damaged and cannot be read.") from exc


def _message(cfb: CompoundFile, *, attachments: bool) -> Message:
    root = _Store(cfb, "")
    kind = (root.string("001A") or "").lower()
    if not kind.startswith("ipm.note") or kind.endswith(("smime", "smime.multipartsigned")):
        raise _Unsupported("message class")
    body = root.string("1000")
    html = None
    if not body or not body.strip():
        html = _html_body(cfb, body)
    props = root.properties(32)
    header = _header(root.string("007D"))
    recipients = _recipients(cfb) if header is None or not all(header[k] for k in ("to", "cc", "bcc")) else []
    return Message(
        subject=root.string("0037"),
        sender=_sender(root, header),
        to=_recipient_field(header, "to", recipients, _TO),
        cc=_recipient_field(header, "cc", recipients, _CC),
        bcc=_recipient_field(header, "bcc", recipients, _BCC),
        date=None if props.get(0x0E070003, 0) & _UNSENT else _date(props.get(0x00390040)),
        messageId=_header_value(header, "message-id") or root.string("1035"),
        body=body or "",
        htmlBody=html,
        attachments=_attachments(cfb) if attachments else [],
    )


def _html_body(cfb: CompoundFile, body: str | None) -> bytes | None:
    """The HTML body of a mail without plain text, where extract-msg would find one without RTFDE.

    An HTML stream is taken as it is. An RTF body that does not encapsulate HTML
    gives extract-msg no HTML either; one that does (or a missing plain body next
    to RTF, which it de-encapsulates to text) is left to extract-msg, whose RTFDE
    parse of it takes ~100 ms.
    """
    html = cfb.read("__substg1.0_10130102")
    if html is not None:
        return html
    compressed = cfb.read("__substg1.0_10090102")
    if not compressed:
        return None
    if body is None:
        raise _Unsupported("plain text only in the RTF body")
    try:
        import compressed_rtf

        rtf = compressed_rtf.decompress(compressed)
    except Exception as exc:  # noqa: BLE001 - a damaged RTF body: extract-msg decides what it means
        raise _Unsupported("undecodable RTF body") from exc
    if b"\\fromhtml" in rtf:  # \\fromtext yields no HTML, as for plain RTF
        raise _Unsupported("HTML encapsulated in RTF")
    return None


def _header(text: str | None) -> HeaderMessage | None:
    if not text:
        return None
    if text.startswith("Microsoft Mail Internet Headers Version 2.0"):
        text = text[43:].lstrip()
    return HeaderParser(policy=policy.compat32).parsestr(text)


def _header_value(header: HeaderMessage | None, name: str) -> str | None:
    value = header[name] if header is not None else None
    return str(value) if value is not None else None


def decode_rfc2047(encoded: str) -> str:
    """Encoded words decoded as extract-msg decodes them (folds dropped, then joined)."""
    encoded = encoded.replace("\r\n", "")
    return "".join(
        part.decode(charset or "raw-unicode-escape") if isinstance(part, bytes) else part
        for part, charset in email.header.decode_header(encoded)
    )


def _sender(root: _Store, header: HeaderMessage | None) -> str | None:
    value = _header_value(header, "from")
    if value is not None:
        return decode_rfc2047(value)
    name, address = root.string("0C1A"), root.string("5D01")
    if name is None:
        return address
    return name + (f" <{address}>" if address is not None else "")


def _recipients(cfb: CompoundFile) -> list[tuple[int, str]]:
    """(type, "name <address>") of each recipient storage, in directory order."""
    found: list[tuple[int, str]] = []
    for key, entry in sorted(cfb.children(cfb.root).items()):
        if entry.kind != STORAGE or not key.startswith("__recip"):
            continue
        if len(found) >= MAX_RECIPIENTS:
            break
        store = _Store(cfb, entry.name + "/")
        address = store.string("39FE") or store.string("3003")
        name = store.string("3001")
        found.append((store.properties(8).get(0x0C150003, 0) & 0xF, f"{name} <{address}>"))
    return found


def _recipient_field(
    header: HeaderMessage | None, name: str, recipients: list[tuple[int, str]], kind: int
) -> str | None:
    value = _header_value(header, name)
    if value:
        value = decode_rfc2047(value).replace(",", ";")
    if not value:
        found = [formatted for rtype, formatted in recipients if rtype == kind]
        value = "; ".join(found) if found else None
    if value:
        value = value.replace(" \r\n\t", " ").replace("\r\n\t ", " ").replace("\r\n\t", " ")
        value = value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
        while "  " in value:
            value = value.replace("  ", " ")
    return value


def _date(filetime: int | None) -> datetime | None:
    if filetime is None:
        return None
    if not _EPOCH_FILETIME <= filetime <= _NULL_DATES:
        raise _Unsupported("a date extract-msg treats specially")
    return datetime.fromtimestamp((filetime - _EPOCH_FILETIME) / 10_000_000, UTC)


def _attachments(cfb: CompoundFile) -> list[Attachment]:
    found = []
    for key, entry in sorted(cfb.children(cfb.root).items()):
        if entry.kind != STORAGE or not key.startswith("__attach"):
            continue
        prefix = entry.name + "/"
        if cfb.find(f"{prefix}__substg1.0_3701000D") is not None:
            raise _Unsupported("an embedded message")
        store = _Store(cfb, prefix)
        data = cfb.read(f"{prefix}__substg1.0_37010102")
        # By value, with its data; references, OLE objects and guessed methods are extract-msg's.
        if store.properties(8).get(0x37050003) != 1 or data is None:
            raise _Unsupported("an attachment not stored by value")
        mimetype = store.string("370E")
        if not mimetype and data is not None:
            mimetype = _guess_mime(data)
        found.append(Attachment(data, store.string("3707"), store.string("3704"), mimetype))
    return found


def _guess_mime(data: bytes) -> str | None:
    """extract-msg asks libmagic when an attachment declares no type; so do we."""
    try:
        import magic

        return str(magic.from_buffer(data, mime=True))
    except Exception:  # noqa: BLE001 - as extract-msg: a libmagic failure leaves the type unknown
        return None

