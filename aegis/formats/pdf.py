"""PDF: structure and metadata with pypdf, text with PDFium.

Two libraries on purpose. pypdf is pure Python, exposes every object and has
documented resource limits (its ``Configuration``), so it is what inspects the
structure and reads metadata. PDFium (pypdfium2) is the engine in Chrome: about
ten times faster at text and fuzzed continuously, so it extracts the pages.

The validate step decodes each page's content streams and fonts through pypdf
with tight output limits before PDFium ever sees them; that is what turns a
Flate bomb into a clean ``zip_bomb`` instead of an allocation that the
worker's memory cap kills.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aegis.formats.base import Detection, DocumentError, FileType, Limits, ModuleFamily, Page
from aegis.formats.dates import iso_date, pdf_date
from aegis.formats.sanitize import cap_pages_text, clean_inline, clean_text, drop_empty, json_safe
from aegis.vocabulary import ErrorCode

log = logging.getLogger(__name__)

# Deepest bracket/dictionary nesting accepted in a content stream. Real files
# stay in single digits; parsers recurse on nesting (pypdf hits RecursionError).
MAX_CONTENT_NESTING = 256
# Per-stream decoded size cap while scanning for bombs; a page's content stream
# or font larger than this is not a document anyone meant to send us.
MAX_STREAM_DECODED = 64 * 1024 * 1024
# How many objects we follow in outlines, name trees and annotations.
MAX_WALK = 100_000


@contextlib.contextmanager
def pypdf_limits(limits: Limits) -> Iterator[None]:
    """Apply pypdf's documented resource limits for the duration of a call.

    The values are tighter than pypdf's defaults where our page cap makes that
    possible, and ``jbig2dec_binary`` is disabled so no external program runs.
    """
    import pypdf

    stream_cap = min(MAX_STREAM_DECODED, limits.max_zip_uncompressed)
    with (
        pypdf.apply_configuration(
            maximum_declared_stream_length=min(limits.max_bytes, 75_000_000),
            zlib_maximum_output_length=stream_cap,
            lzw_maximum_output_length=stream_cap,
            run_length_maximum_output_length=stream_cap,
            array_based_stream_maximum_output_length=stream_cap,
            stream_decoding_work_maximum_length=4 * stream_cap,
            page_tree_maximum_entries=max(1000, limits.max_pages * 4),
            outline_maximum_entries=MAX_WALK,
            jbig2dec_binary=None,
        ),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def _translate(exc: BaseException) -> DocumentError:
    """Map pypdf and PDFium failures to stable codes."""
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PdfReadError

    if isinstance(exc, DocumentError):
        return exc
    if isinstance(exc, RecursionError):
        return DocumentError(ErrorCode.NESTING_TOO_DEEP, "The PDF nests objects too deeply to be read safely.")
    if isinstance(exc, MemoryError):
        return DocumentError(ErrorCode.TOO_COMPLEX, "The PDF needs more memory to read than a worker may use.")
    if isinstance(exc, FileNotDecryptedError):
        return DocumentError(ErrorCode.ENCRYPTED, "The PDF is encrypted and needs a password.")
    message = str(exc).lower()
    if isinstance(exc, LimitReachedError):
        if "decompress" in message or "output length" in message or "decoding work" in message:
            return DocumentError(
                ErrorCode.ZIP_BOMB, "The PDF holds a stream that expands to far more data than allowed."
            )
        if "depth" in message:
            return DocumentError(ErrorCode.NESTING_TOO_DEEP, "The PDF nests objects too deeply to be read safely.")
        if "page" in message and ("entr" in message or "limit" in message):
            return DocumentError(ErrorCode.TOO_MANY_PAGES, "The PDF has more pages than we accept.")
        if "cycle" in message or "loop" in message or "cyclic" in message or "self reference" in message:
            return DocumentError(ErrorCode.MALFORMED, "The PDF's structure refers to itself in a loop.")
        return DocumentError(ErrorCode.MALFORMED, "The PDF exceeds a structural limit and cannot be read safely.")
    if isinstance(
        exc,
        PdfReadError
        | ValueError
        | KeyError
        | TypeError
        | IndexError
        | AttributeError
        | AssertionError
        | OSError
        | EOFError
        | UnicodeError
        | ArithmeticError,
    ):
        return DocumentError(ErrorCode.MALFORMED, "The PDF is damaged or truncated and cannot be read.")
    log.warning("unexpected error reading PDF", exc_info=exc)
    return DocumentError(ErrorCode.MALFORMED, "The PDF could not be read.")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - every library failure (RecursionError too) gets a code
        raise _translate(exc) from exc


def _open_reader(path: Path) -> Any:
    """Open with pypdf; a file that needs a password is ``encrypted``.

    Password-protected PDFs are decrypted once at upload (:func:`decrypt`), so
    only the empty user password (owner-only protection) is tried here.
    """
    from pypdf import PdfReader

    reader = PdfReader(path, strict=False)
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")
        except NotImplementedError as exc:
            raise DocumentError(ErrorCode.ENCRYPTED, "The PDF uses an encryption method we cannot open.") from exc
        except Exception as exc:  # noqa: BLE001 - crypto back-ends raise their own types
            raise DocumentError(ErrorCode.ENCRYPTED, "The PDF is encrypted and could not be opened.") from exc
        if not ok:
            raise DocumentError(ErrorCode.ENCRYPTED, "The PDF is encrypted and needs a password.")
    return reader


def _declared_page_count(reader: Any) -> int | None:
    """/Count from the page tree root: read without flattening the tree."""
    try:
        count = reader.trailer["/Root"].get_object()["/Pages"].get_object().get("/Count")
        return int(count) if count is not None else None
    except Exception:  # noqa: BLE001 - a broken root is judged later by len(reader.pages)
        return None


def _page_count(reader: Any, limits: Limits) -> int:
    declared = _declared_page_count(reader)
    if declared is not None and declared > limits.max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The PDF has {declared} pages; the limit is {limits.max_pages}.")
    count = len(reader.pages)
    if count > limits.max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The PDF has {count} pages; the limit is {limits.max_pages}.")
    if count == 0:
        raise DocumentError(ErrorCode.MALFORMED, "The PDF has no pages.")
    return count


def _max_nesting(data: bytes) -> int:
    """Deepest ``[``/``<<`` nesting in a content stream, computed without recursion."""
    if data.count(b"[") + data.count(b"<<") < MAX_CONTENT_NESTING:
        return 0
    marks = data.replace(b"<<", b"[").replace(b">>", b"]")
    only = marks.translate(None, bytes(b for b in range(256) if b not in b"[]"))
    depth = itertools.accumulate(1 if c == 0x5B else -1 for c in only)
    return max(depth, default=0)


def _stream_list(obj: Any) -> list[Any]:
    obj = obj.get_object() if obj is not None else None
    if obj is None:
        return []
    if isinstance(obj, list):
        return [item.get_object() for item in obj[:1000]]
    return [obj]


def _scan_page(page: Any, budget: list[int], seen: set[int]) -> None:
    """Decode content streams and embedded fonts with limits, checking nesting."""
    from pypdf.generic import IndirectObject

    for stream in _stream_list(page.get("/Contents")):
        if not hasattr(stream, "get_data"):
            continue
        data = stream.get_data()
        budget[0] -= len(data)
        if budget[0] < 0:
            raise DocumentError(ErrorCode.ZIP_BOMB, "The PDF's pages expand to far more data than allowed.")
        if _max_nesting(data) > MAX_CONTENT_NESTING:
            raise DocumentError(
                ErrorCode.NESTING_TOO_DEEP, "A page of the PDF nests its content too deeply to be read safely."
            )
    resources: Any = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    fonts: Any = resources.get("/Font") if hasattr(resources, "get") else None
    fonts = fonts.get_object() if fonts is not None else None
    if not hasattr(fonts, "values"):
        return
    for ref in list(fonts.values())[:200]:
        font = ref.get_object()
        if not hasattr(font, "get"):
            continue
        descendants = font.get("/DescendantFonts")
        candidates = [font] + [d.get_object() for d in (descendants.get_object() if descendants else [])][:4]
        for candidate in candidates:
            descriptor: Any = candidate.get("/FontDescriptor") if hasattr(candidate, "get") else None
            descriptor = descriptor.get_object() if descriptor is not None else None
            if not hasattr(descriptor, "get"):
                continue
            for key in ("/FontFile", "/FontFile2", "/FontFile3"):
                raw = descriptor.raw_get(key) if key in descriptor else None
                if raw is None:
                    continue
                ident = raw.idnum if isinstance(raw, IndirectObject) else id(raw)
                if ident in seen:
                    continue
                seen.add(ident)
                data = raw.get_object().get_data()
                budget[0] -= len(data)
                if budget[0] < 0:
                    raise DocumentError(ErrorCode.ZIP_BOMB, "The PDF's fonts expand to far more data than allowed.")


def check(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    """Open the PDF, enforce page and decoding limits; return detection details."""
    size = path.stat().st_size
    try:
        with pypdf_limits(limits), _errors():
            reader = _open_reader(path)
            pages = _page_count(reader, limits)
            # Budget for all decoded page content and fonts: generous for real files
            # (text compresses ~5x), fatal for bombs.
            budget = [min(limits.max_zip_uncompressed, max(64 * 1024 * 1024, size * limits.max_zip_ratio))]
            seen: set[int] = set()
            for page in reader.pages:
                _scan_page(page, budget, seen)
            encrypted = bool(reader.is_encrypted)
    except DocumentError as exc:
        if not _repairable(exc):
            raise
        return _check_repaired(path, limits, exc)
    _check_pdfium(path)
    return {"pages": pages, "encrypted": encrypted}


def _repairable(exc: DocumentError) -> bool:
    """pypdf gave up on the syntax (not a limit, loop or password): PDFium may still read it."""
    from pypdf.errors import LimitReachedError, PdfReadError

    cause = exc.__cause__
    return (
        exc.code == ErrorCode.MALFORMED
        and isinstance(cause, PdfReadError | ValueError | KeyError | TypeError | IndexError | AttributeError)
        and not isinstance(cause, LimitReachedError)
    )


def _check_repaired(path: Path, limits: Limits, original: DocumentError) -> dict[str, Any]:
    """Accept a PDF that PDFium (Chrome's engine, which repairs broken xrefs) opens with pages."""
    try:
        doc = _open_pdfium(path)
    except DocumentError as exc:
        if exc.code in {ErrorCode.ENCRYPTED, ErrorCode.WRONG_PASSWORD}:
            raise
        raise original from original.__cause__
    try:
        count = len(doc)
    finally:
        doc.close()
    if count == 0:
        raise original from original.__cause__
    if count > limits.max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The PDF has {count} pages; the limit is {limits.max_pages}.")
    return {"pages": count, "encrypted": False, "repaired": True}


def _repaired_metadata(path: Path, limits: Limits) -> dict[str, Any]:
    """Metadata from PDFium alone, for files only PDFium can read."""
    doc = _open_pdfium(path)
    try:
        info = doc.get_metadata_dict(skip_empty=True)
        version = doc.get_version()
        count = len(doc)
    finally:
        doc.close()
    if count > limits.max_pages:
        raise DocumentError(ErrorCode.TOO_MANY_PAGES, f"The PDF has {count} pages; the limit is {limits.max_pages}.")
    meta = {
        "title": _text(info.get("Title")),
        "author": _text(info.get("Author")),
        "subject": _text(info.get("Subject")),
        "keywords": _text(info.get("Keywords")),
        "creator": _text(info.get("Creator")),
        "producer": _text(info.get("Producer")),
        "created_at": pdf_date(info.get("CreationDate")),
        "modified_at": pdf_date(info.get("ModDate")),
        "pdf": {"version": f"{version // 10}.{version % 10}" if version else None, "repaired": True},
    }
    return drop_empty(meta) | {"pages": count, "encrypted": False}


def _pdfium_error(exc: Exception, password: str | None) -> DocumentError:
    import pypdfium2.raw as pdfium_c

    code = getattr(exc, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        if password:
            return DocumentError(ErrorCode.WRONG_PASSWORD, "The password does not open this PDF.")
        return DocumentError(ErrorCode.ENCRYPTED, "The PDF is encrypted and needs a password.")
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return DocumentError(ErrorCode.ENCRYPTED, "The PDF uses an encryption method we cannot open.")
    return DocumentError(ErrorCode.MALFORMED, "The PDF is damaged and cannot be read.")


def _open_pdfium(path: Path, password: str | None = None) -> Any:
    """Open with PDFium; only :func:`decrypt` passes a password."""
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(path, password=password or None)
    except pdfium.PdfiumError as exc:
        raise _pdfium_error(exc, password) from exc


def _check_pdfium(path: Path) -> None:
    """The text engine must open the file too, or the content stage would fail later."""
    doc = _open_pdfium(path)
    doc.close()


def extract_pages(path: Path, limits: Limits, *, detection: Detection | None = None) -> list[Page]:
    """Text per page via PDFium, in its reading order, within the text budget."""
    doc = _open_pdfium(path)
    pages: list[Page] = []
    remaining = limits.max_text_chars
    try:
        count = len(doc)
        if count > limits.max_pages:
            raise DocumentError(
                ErrorCode.TOO_MANY_PAGES, f"The PDF has {count} pages; the limit is {limits.max_pages}."
            )
        for index in range(count):
            text = ""
            if remaining > 0:
                page = doc[index]
                try:
                    text = text_layer(page)
                finally:
                    page.close()
                text = clean_text(text.replace("\r\n", "\n").replace("\r", "\n"))
                remaining -= len(text)
            pages.append(Page(number=index + 1, text=text))
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - PDFium raises PdfiumError/ValueError on bad pages
        raise DocumentError(ErrorCode.MALFORMED, "A page of the PDF is damaged and its text cannot be read.") from exc
    finally:
        doc.close()
    return cap_pages_text(pages, limits.max_text_chars)


def needs_password(path: Path) -> bool:
    """Whether PDFium asks for a password to open ``path`` (a user password is set)."""
    try:
        _open_pdfium(path).close()
    except DocumentError as exc:
        return exc.code == ErrorCode.ENCRYPTED
    return False


def decrypt(src: Path, dst: Path, password: str) -> None:
    """Write an unencrypted copy of ``src`` to ``dst``; the password is not kept."""
    import pypdfium2.raw as pdfium_c

    doc = _open_pdfium(src, password)
    try:
        doc.save(dst, flags=pdfium_c.FPDF_REMOVE_SECURITY)
    except Exception as exc:  # noqa: BLE001
        raise DocumentError(ErrorCode.MALFORMED, "The PDF could not be rewritten without its encryption.") from exc
    finally:
        doc.close()


# --- metadata -------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = clean_inline(str(value), 2000)
    return text or None


def _xmp(reader: Any) -> dict[str, Any]:
    try:
        xmp = reader.xmp_metadata
    except Exception:  # noqa: BLE001 - a broken XMP packet is not a broken document
        return {}
    if xmp is None:
        return {}
    out: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        title = xmp.dc_title
        if title:
            out["dc_title"] = _text(title.get("x-default") or next(iter(title.values()), None))
    with contextlib.suppress(Exception):
        creators = xmp.dc_creator
        if creators:
            out["dc_creator"] = [c for c in (_text(c) for c in list(creators)[:20]) if c]
    for attr, key in (
        ("xmp_creator_tool", "creator_tool"),
        ("pdf_producer", "producer"),
        ("pdf_keywords", "keywords"),
    ):
        with contextlib.suppress(Exception):
            value = getattr(xmp, attr)
            if value:
                out[key] = _text(value)
    # pypdf converts XMP dates to naive UTC; read the raw value to keep the offset.
    for name, key in (("CreateDate", "create_date"), ("ModifyDate", "modify_date")):
        with contextlib.suppress(Exception):
            raw = _xmp_raw(xmp, "http://ns.adobe.com/xap/1.0/", name)
            if raw:
                out[key] = iso_date(raw)
    with contextlib.suppress(Exception):
        langs = xmp.dc_language
        if langs:
            out["dc_language"] = [_text(x) for x in list(langs)[:10]]
    return drop_empty(out)


def _xmp_raw(xmp: Any, namespace: str, name: str) -> str | None:
    """The first value of an XMP property, as written (attribute or element form)."""
    for element in xmp.get_element("", namespace, name):
        if element.nodeType == element.ATTRIBUTE_NODE:
            return str(element.nodeValue)
        return "".join(child.data for child in element.childNodes if child.nodeType == child.TEXT_NODE)
    return None


def _resolve(obj: Any) -> Any:
    return obj.get_object() if obj is not None and hasattr(obj, "get_object") else obj


def _count_images(resources: Any, seen: set[int], depth: int = 0) -> int:
    """Image XObjects in a resource dictionary, following Form XObjects a few levels."""
    from pypdf.generic import IndirectObject

    resources = _resolve(resources)
    if not hasattr(resources, "get") or depth > 8:
        return 0
    xobjects = _resolve(resources.get("/XObject"))
    if not hasattr(xobjects, "items"):
        return 0
    count = 0
    for _name, ref in list(xobjects.items())[:1000]:
        ident = ref.idnum if isinstance(ref, IndirectObject) else None
        if ident is not None:
            if ident in seen:
                continue
            seen.add(ident)
        obj = _resolve(ref)
        if not hasattr(obj, "get"):
            continue
        subtype = obj.get("/Subtype")
        if subtype == "/Image":
            count += 1
        elif subtype == "/Form":
            count += _count_images(obj.get("/Resources"), seen, depth + 1)
    return count


def _outline_count(root: Any) -> int:
    """Outline entries, walked iteratively with a visited set (cycles are common)."""
    outlines = _resolve(root.get("/Outlines"))
    if not hasattr(outlines, "get"):
        return 0
    seen: set[int] = set()
    stack = [outlines.raw_get("/First")] if "/First" in outlines else []
    count = 0
    while stack and count < MAX_WALK:
        ref = stack.pop()
        ident = getattr(ref, "idnum", None)
        if ident is None or ident in seen:
            continue
        seen.add(ident)
        item = _resolve(ref)
        if not hasattr(item, "get"):
            continue
        count += 1
        if "/Next" in item:
            stack.append(item.raw_get("/Next"))
        if "/First" in item:
            stack.append(item.raw_get("/First"))
    return count


def _name_tree(node: Any) -> Iterator[tuple[str, Any]]:
    """(name, value) pairs of a PDF name tree, iteratively and cycle-safe."""
    seen: set[int] = set()
    stack = [node]
    walked = 0
    while stack and walked < MAX_WALK:
        walked += 1
        current = stack.pop()
        ident = getattr(current, "idnum", None)
        if ident is not None:
            if ident in seen:
                continue
            seen.add(ident)
        current = _resolve(current)
        if not hasattr(current, "get"):
            continue
        names = _resolve(current.get("/Names"))
        if isinstance(names, list):
            for i in range(0, len(names) - 1, 2):
                yield str(_resolve(names[i])), names[i + 1]
        kids = _resolve(current.get("/Kids"))
        if isinstance(kids, list):
            stack.extend(kids[:MAX_WALK])


def _attachments(root: Any) -> list[dict[str, Any]]:
    names = _resolve(root.get("/Names"))
    if not hasattr(names, "get") or "/EmbeddedFiles" not in names:
        return []
    out = []
    for name, spec in _name_tree(names.raw_get("/EmbeddedFiles")):
        spec = _resolve(spec)
        entry: dict[str, Any] = {"name": _text(name)}
        with contextlib.suppress(Exception):
            filename = spec.get("/UF") or spec.get("/F")
            if filename:
                entry["name"] = _text(filename)
            embedded = _resolve(_resolve(spec.get("/EF")).get("/F"))
            params = _resolve(embedded.get("/Params"))
            size = params.get("/Size") if params is not None else None
            if size is not None:
                entry["size"] = int(size)
            subtype = embedded.get("/Subtype")
            if subtype:
                entry["type"] = str(subtype).lstrip("/").replace("#2F", "/")
        out.append(entry)
        if len(out) >= 1000:
            break
    return out


def _has_javascript(root: Any, annotation_actions: bool) -> bool:
    names = _resolve(root.get("/Names"))
    if hasattr(names, "get") and "/JavaScript" in names:
        return True
    for key in ("/OpenAction", "/AA"):
        action = _resolve(root.get(key))
        if hasattr(action, "get") and (action.get("/S") == "/JavaScript" or "/JS" in action):
            return True
        if hasattr(action, "values") and key == "/AA":
            for value in list(action.values())[:50]:
                value = _resolve(value)
                if hasattr(value, "get") and value.get("/S") == "/JavaScript":
                    return True
    return annotation_actions


def _page_details(reader: Any) -> dict[str, Any]:
    """Per-page facts gathered in one pass: size, images, annotations."""
    annotations: Counter[str] = Counter()
    images = 0
    seen_images: set[int] = set()
    sizes: Counter[str] = Counter()
    js_in_annots = False
    first_size: dict[str, float | str] | None = None
    for page in reader.pages:
        with contextlib.suppress(Exception):
            box = page.mediabox
            width, height = round(float(box.width), 2), round(float(box.height), 2)
            if first_size is None:
                first_size = {"width": width, "height": height, "unit": "pt"}
            sizes[f"{width}x{height}"] += 1
        with contextlib.suppress(Exception):
            images += _count_images(page.get("/Resources"), seen_images)
        with contextlib.suppress(Exception):
            annots = _resolve(page.get("/Annots"))
            if isinstance(annots, list):
                for ref in annots[:10_000]:
                    annot = _resolve(ref)
                    if not hasattr(annot, "get"):
                        continue
                    annotations[str(annot.get("/Subtype", "/Unknown")).lstrip("/")] += 1
                    action = _resolve(annot.get("/A"))
                    if hasattr(action, "get") and action.get("/S") == "/JavaScript":
                        js_in_annots = True
    return {
        "page_size": first_size,
        "page_sizes": dict(sizes.most_common(20)) if len(sizes) > 1 else None,
        "images": images,
        "annotations": dict(annotations),
        "_js": js_in_annots,
    }


def _form_fields(reader: Any) -> int:
    try:
        fields = reader.get_fields()
    except Exception:  # noqa: BLE001 - a broken AcroForm leaves the document readable
        return 0
    return len(fields or {})


def _version(reader: Any) -> str | None:
    version = None
    with contextlib.suppress(Exception):
        version = str(reader.pdf_header).replace("%PDF-", "").strip()
    with contextlib.suppress(Exception):
        catalog_version = reader.trailer["/Root"].get_object().get("/Version")
        if catalog_version:
            version = str(catalog_version).lstrip("/")
    return clean_inline(version, 10) if version else None


def extract_metadata(path: Path, limits: Limits, *, detection: Detection | None = None) -> dict[str, Any]:
    """Normalised metadata plus a ``pdf`` section of structural facts."""
    try:
        return _metadata(path, limits)
    except DocumentError as exc:
        if not _repairable(exc):
            raise
        try:
            return _repaired_metadata(path, limits)
        except DocumentError:
            raise exc from exc.__cause__


def _metadata(path: Path, limits: Limits) -> dict[str, Any]:
    with pypdf_limits(limits), _errors():
        reader = _open_reader(path)
        pages = _page_count(reader, limits)
        info: Any = {}
        with contextlib.suppress(Exception):
            info = reader.metadata or {}
        root = reader.trailer["/Root"].get_object()
        xmp = _xmp(reader)
        details = _page_details(reader)
        js_in_annots = details.pop("_js")
        pdf_section = {
            "version": _version(reader),
            "xmp": xmp,
            **details,
            "form_fields": _form_fields(reader),
            "outline_entries": _outline_count(root),
            "attachments": _attachments(root),
            "javascript": _has_javascript(root, js_in_annots),
            "tagged": bool(_resolve(root.get("/MarkInfo")) and _resolve(root.get("/MarkInfo")).get("/Marked")),
        }
        lang = _text(root.get("/Lang"))
        if lang:
            pdf_section["lang"] = lang

        def info_value(key: str) -> Any:
            try:
                return info.get(key) if hasattr(info, "get") else None
            except Exception:  # noqa: BLE001 - unreadable metadata (a real corpus case)
                return None

        meta = {
            "pages": pages,
            "encrypted": bool(reader.is_encrypted),
            "title": _text(info_value("/Title")) or xmp.get("dc_title"),
            "author": _text(info_value("/Author")) or (", ".join(filter(None, xmp.get("dc_creator", []))) or None),
            "subject": _text(info_value("/Subject")),
            "keywords": _text(info_value("/Keywords")) or xmp.get("keywords"),
            "creator": _text(info_value("/Creator")) or xmp.get("creator_tool"),
            "producer": _text(info_value("/Producer")) or xmp.get("producer"),
            "created_at": pdf_date(info_value("/CreationDate")) or xmp.get("create_date"),
            "modified_at": pdf_date(info_value("/ModDate")) or xmp.get("modify_date"),
            "pdf": json_safe(drop_empty(pdf_section)),
        }
    return drop_empty(meta) | {"pages": pages, "encrypted": meta["encrypted"]}



def text_layer(page: Any) -> str:
    """A PDFium page's text layer (the text page is closed even when reading fails)."""
    textpage = page.get_textpage()
    try:
        return str(textpage.get_text_bounded())
    finally:
        textpage.close()

#: PDF documents.
FAMILY = ModuleFamily(
    "pdf",
    (FileType("pdf", "application/pdf"),),
    __name__,
)
