"""XML: the text content, parsed with defusedxml so entities cannot attack us.

defusedxml refuses entity declarations (billion laughs, quadratic blowup) and
external references (XXE), and we walk the document with ``iterparse`` while
counting depth, so 100,000 nested elements end as ``nesting_too_deep`` rather
than a RecursionError somewhere in a tree walk.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.encoding import decode_bytes, detect_encoding
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text
from aegis.vocabulary import ErrorCode

MAX_DEPTH = 1000
_DECLARATION = re.compile(r"""^(\s*<\?xml[^>]*encoding\s*=\s*["'])[^"']*(["'])""")
# Elements whose text is a title worth reporting, by local name.
_TITLE_TAGS = {"title", "dc:title", "name"}


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def walk(source: Any, budget: int) -> tuple[str, dict[str, Any]]:
    """Stream-parse XML; return its text and a few structural facts.

    Pieces of text (an element's own text, its children's, their tails) are
    joined with newlines in document order, which keeps records readable.
    """
    from xml.etree.ElementTree import ParseError

    from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden, NotSupportedError
    from defusedxml.ElementTree import iterparse

    # Text is assembled bottom-up: when an element ends, its own text, its children
    # and their tails are all known, so reading order is kept without recursion.
    collected: dict[Any, list[str]] = {}
    size = 0
    depth = 0
    elements = 0
    root_tag = None
    title = None
    text = ""
    try:
        for event, element in iterparse(
            source, events=("start", "end"), forbid_dtd=False, forbid_entities=True, forbid_external=True
        ):
            if event == "start":
                depth += 1
                elements += 1
                if root_tag is None:
                    root_tag = _local(element.tag)
                if depth > MAX_DEPTH:
                    raise DocumentError(
                        ErrorCode.NESTING_TOO_DEEP, "The XML nests elements too deeply to be read safely."
                    )
                continue
            depth -= 1
            parts: list[str] = []
            own = (element.text or "").strip()
            if own and size < budget:
                if title is None and _local(element.tag).lower() in _TITLE_TAGS:
                    title = clean_inline(own, 500)
                parts.append(own)
                size += len(own) + 1
            for child in element:
                parts.extend(collected.pop(child, ()))
                tail = (child.tail or "").strip()
                if tail and size < budget:
                    parts.append(tail)
                    size += len(tail) + 1
            # Free the children we have read (clearing the element itself would lose
            # its tail, which belongs to the parent and is read when the parent ends).
            del element[:]
            if depth == 0:
                text = "\n".join(parts)
            else:
                collected[element] = parts
    except (EntitiesForbidden, DTDForbidden, ExternalReferenceForbidden) as exc:
        raise DocumentError(
            ErrorCode.XML_ENTITIES, "The XML declares entities or external references, which we refuse."
        ) from exc
    except NotSupportedError as exc:
        raise DocumentError(ErrorCode.XML_ENTITIES, "The XML uses features we refuse for safety.") from exc
    except ParseError as exc:
        raise DocumentError(ErrorCode.MALFORMED, f"The XML is not well-formed: {clean_inline(str(exc), 200)}.") from exc
    except RecursionError as exc:
        raise DocumentError(ErrorCode.NESTING_TOO_DEEP, "The XML nests elements too deeply to be read safely.") from exc
    facts = {"root": root_tag, "elements": elements, "title": title}
    return clean_text(text), facts


def _source(path: Path, limits: Limits) -> io.BytesIO:
    with path.open("rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE)
    if not data.strip(b" \t\r\n\0\xef\xbb\xbf\xff\xfe"):
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file contains only whitespace, no XML.")
    return io.BytesIO(_to_utf8(data))


def _to_utf8(data: bytes) -> bytes:
    """Transcode UTF-16/32 to UTF-8 and say so in the declaration.

    Files converted by tools often keep ``encoding="UTF-8"`` in a UTF-16 file, which
    expat rightly refuses; the byte order mark is the better witness.
    """
    encoding = detect_encoding(data[:4096]) if data[:1] in (b"\xff", b"\xfe", b"\0") or data[1:2] == b"\0" else None
    if not encoding or not encoding.startswith(("utf-16", "utf-32")):
        return data
    text, _ = decode_bytes(data, encoding)
    text = _DECLARATION.sub(r"\1UTF-8\2", text, count=1)
    return text.encode("utf-8")


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    _, facts = walk(_source(path, limits), limits.max_text_chars)
    return {"root": facts["root"]}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    text, _ = walk(_source(path, limits), limits.max_text_chars)
    return cap_pages_text([Page(number=1, text=text)], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    _, facts = walk(_source(path, limits), 100_000)
    meta: dict[str, Any] = {"pages": 1, "xml": {"root": facts["root"], "elements": facts["elements"]}}
    if facts["title"]:
        meta["title"] = facts["title"]
    return meta


#: XML documents.
FAMILY = ModuleFamily(
    "xml",
    (FileType("xml", "application/xml"),),
    __name__,
    textual=True,
)
