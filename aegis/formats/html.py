"""HTML: the text a reader sees, never scripts, styles or hidden templates.

lxml's HTML parser (libxml2) is fast, tolerant of the tag soup real pages are
made of, bounds its own nesting depth, and does not fetch anything. We walk the
tree with ``iterwalk`` (no Python recursion, so deeply nested pages are safe)
and put line breaks where block elements end so paragraphs stay paragraphs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.encoding import bom_encoding, decode_bytes, looks_binary
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty
from aegis.vocabulary import ErrorCode

_SKIP = {"script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe", "object", "embed"}
_BLOCK = {
    "address",
    "article",
    "aside",
    "blockquote",
    "br",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "pre",
    "section",
    "summary",
    "table",
    "tr",
    "ul",
    "caption",
    "body",
    "html",
}
_CELL = {"td", "th"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)


def decode_html(data: bytes) -> tuple[str, str]:
    """BOM, then strict UTF-8, then the page's own ``<meta charset>``, then a guess."""
    if bom_encoding(data) is None:
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            match = _META_CHARSET.search(data[:4096])
            if match:
                name = match.group(1).decode("ascii", "replace")
                try:
                    return data.decode(name, errors="replace"), name
                except LookupError:
                    pass
    return decode_bytes(data)


def _read(path: Path, limits: Limits) -> str:
    with path.open("rb") as fh:
        data = fh.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise DocumentError(ErrorCode.TOO_LARGE)
    text, _ = decode_html(data)
    if looks_binary(text):
        raise DocumentError(ErrorCode.TYPE_MISMATCH, "The file is binary data, not an HTML page as its name says.")
    return text


def parse(markup: str) -> Any:
    """Parse HTML text into an lxml tree; never fetches, never resolves entities."""
    import lxml.html
    from lxml import etree

    markup = _XML_DECL.sub("", markup, count=1)
    if not markup.strip():
        return None
    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, recover=True)
    try:
        return lxml.html.document_fromstring(markup, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None


def visible_text(tree: Any, max_chars: int = 50_000_000) -> str:
    """Concatenate visible text, breaking lines at block boundaries."""
    from lxml import etree

    if tree is None:
        return ""
    out: list[str] = []
    size = 0
    skipping = 0
    for event, element in etree.iterwalk(tree, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        tag = tag.rsplit("}", 1)[-1].lower()
        if event == "start":
            if tag in _SKIP or not isinstance(element.tag, str):
                skipping += 1
                continue
            if skipping:
                continue
            if tag in _BLOCK:
                out.append("\n")
            if element.text:
                out.append(element.text)
                size += len(element.text)
        else:
            if tag in _SKIP or not isinstance(element.tag, str):
                skipping -= 1
            elif not skipping:
                if tag in _BLOCK:
                    out.append("\n")
                elif tag in _CELL:
                    out.append("\t")
            if not skipping and element.tail:
                out.append(element.tail)
                size += len(element.tail)
        if size > max_chars:
            break
    text = "".join(out)
    # Collapse the whitespace HTML collapses, keep paragraph breaks.
    lines = (" ".join(line.split()) for line in text.split("\n"))
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return clean_text(text)


def html_to_text(markup: str, max_chars: int = 50_000_000) -> str:
    """Visible text of an HTML fragment or page (used by email and EPUB too)."""
    return visible_text(parse(markup), max_chars)


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    markup = _read(path, limits)
    if not markup.strip():
        raise DocumentError(ErrorCode.EMPTY_FILE, "The file contains only whitespace, no HTML.")
    return {}


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    text = visible_text(parse(_read(path, limits)), limits.max_text_chars)
    return cap_pages_text([Page(number=1, text=text)], limits.max_text_chars)


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    tree = parse(_read(path, limits))
    if tree is None:
        return {"pages": 1, "html": {}}
    title = None
    titles = tree.xpath("//title")
    if titles:
        title = clean_inline(titles[0].text_content(), 1000) or None
    metas: dict[str, str] = {}
    for meta in tree.xpath("//meta[@name][@content]")[:200]:
        name = clean_inline(meta.get("name", ""), 100).lower()
        if name in {"author", "description", "keywords", "generator", "subject"}:
            metas[name] = clean_inline(meta.get("content", ""), 2000)
    lang_values = tree.xpath("/html/@lang") or tree.xpath("//html/@lang") or tree.xpath("//@xml:lang")
    lang = clean_inline(str(lang_values[0]), 35) if lang_values else None
    detail = {
        "lang": lang,
        "links": len(tree.xpath("//a[@href]")),
        "images": len(tree.xpath("//img")),
        "scripts": len(tree.xpath("//script")),
        "description": metas.get("description"),
        "generator": metas.get("generator"),
    }
    return drop_empty(
        {
            "pages": 1,
            "title": title,
            "author": metas.get("author"),
            "subject": metas.get("subject"),
            "keywords": metas.get("keywords"),
            "creator": metas.get("generator"),
            "html": drop_empty(detail) | {"links": detail["links"]},
        }
    ) | {"pages": 1}


#: HTML and XHTML pages.
FAMILY = ModuleFamily(
    "html",
    (
        FileType("html", "text/html"),
        FileType("htm", "text/html"),
        FileType("xhtml", "application/xhtml+xml"),
    ),
    __name__,
    textual=True,
)
