"""Dates from documents into ISO 8601 strings, keeping the timezone they carry.

Files write dates in many dialects (PDF ``D:YYYYMMDDHHmmSSOHH'mm'``, RFC 2822 in
mail, W3CDTF in OOXML and XMP). We normalise at the edge so the database and the
API only ever see one format, and a date we cannot read becomes ``None`` rather
than an error: a bad date is no reason to reject a document.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

_PDF_DATE = re.compile(
    r"^D?:?(?P<y>\d{4})(?P<m>\d{2})?(?P<d>\d{2})?(?P<H>\d{2})?(?P<M>\d{2})?(?P<S>\d{2})?"
    r"(?P<tz>[Zz]|[+\-]\d{2}'?(\d{2})?'?)?"
)


def pdf_date(raw: object) -> str | None:
    """Parse a PDF date string (PDF 32000 7.9.4) into ISO 8601."""
    if raw is None:
        return None
    text = str(raw).strip()
    match = _PDF_DATE.match(text)
    if not match:
        return iso_date(text)
    try:
        parts = {
            k: int(match.group(k) or default)
            for k, default in (("y", 0), ("m", 1), ("d", 1), ("H", 0), ("M", 0), ("S", 0))
        }
        tzinfo = None
        tz = match.group("tz")
        if tz:
            if tz in "Zz":
                tzinfo = UTC
            else:
                digits = re.sub(r"[^\d]", "", tz[1:])
                hours = int(digits[:2] or 0)
                minutes = int(digits[2:4] or 0)
                offset = timedelta(hours=hours, minutes=minutes)
                tzinfo = timezone(-offset if tz[0] == "-" else offset)
        value = datetime(parts["y"], parts["m"], parts["d"], parts["H"], parts["M"], parts["S"], tzinfo=tzinfo)
    except (ValueError, OverflowError):
        return None
    return value.isoformat()


def iso_date(raw: object) -> str | None:
    """Accept a datetime or an ISO 8601 / W3CDTF string and return ISO 8601."""
    if raw is None:
        return None
    if isinstance(raw, datetime):
        return raw.isoformat()
    text = str(raw).strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        pass
    try:
        from dateutil import parser  # dateutil ships with celery/pandas stacks; lenient

        return parser.isoparse(text).isoformat()
    except (ValueError, OverflowError, ImportError):
        return None


def mail_date(raw: object) -> str | None:
    """RFC 2822 dates from mail headers, falling back to ISO 8601."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return iso_date(text)
