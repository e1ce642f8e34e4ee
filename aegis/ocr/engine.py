"""Tesseract, driven as a subprocess: one page in, text and confidence out.

Why the CLI and not a binding. ``pytesseract`` is itself a wrapper around this
same CLI (it writes temporary files and calls ``tesseract``), so it would add a
dependency and disk traffic for nothing. ``tesserocr`` (the C API) saves the
~0.1 s model load per page but runs inside the worker: a Tesseract crash or a
runaway page would take the Celery child with it, and it cannot be killed
cleanly on a timeout. A subprocess can be: it gets its own process group and is
killed with it, and the worker lives on to read the next page.

One recognition per page: the TSV renderer gives every word with its
confidence and its block/paragraph/line numbers, which is enough to rebuild the
plain text Tesseract's own ``txt`` renderer would print, so text and confidence
come from one run.

``OMP_THREAD_LIMIT=1``: Tesseract's OpenMP threads speed up one page on an idle
machine, but a worker fleet already runs one page per core; extra threads only
fight each other (and Celery's prefork children) for the same cores.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import re
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aegis.formats.sanitize import clean_text
from aegis.ocr.errors import OcrEngineMissing, OcrLanguageMissing, OcrPageError, OcrPageTimeout
from aegis.ocr.settings import OcrSettings
from aegis.vocabulary import ErrorCode

if TYPE_CHECKING:
    from PIL import Image

TESSERACT = "tesseract"
# Debian splits Tesseract into the engine and one package per language.
ENGINE_PACKAGE = "tesseract-ocr"
# Page segmentation mode 1: automatic layout analysis with orientation and script
# detection (OSD, the tesseract-ocr-osd package), so a page scanned sideways or upside
# down is read; it costs about the same as mode 3 on an upright page.
PSM = 1
_MISSING = f"Tesseract is not installed on this worker; install the Debian package {ENGINE_PACKAGE}."


@dataclass(frozen=True)
class OcrText:
    """What Tesseract read on one page."""

    text: str
    confidence: float | None  # mean word confidence, 0-100; None when no word was found
    words: int
    #: A one-page PDF holding only the invisible text, laid over the page for a searchable PDF.
    layer: bytes | None = None


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_THREAD_LIMIT"] = "1"
    return env


def _run(args: list[str], *, data: bytes | None = None, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run tesseract in its own process group; on timeout the whole group is killed."""
    try:
        proc = subprocess.Popen(
            [TESSERACT, *args],
            stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(),
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise OcrEngineMissing(_MISSING) from exc
    except PermissionError as exc:
        raise OcrEngineMissing(f"The tesseract binary cannot be executed: {exc}.") from exc
    try:
        stdout, stderr = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise
    except BaseException:
        _kill_group(proc)  # a Celery soft time limit lands here too: leave no orphan behind
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


@functools.lru_cache(maxsize=1)
def tesseract_version() -> str:
    """``"tesseract 5.3.0"``: what ``metadata.ocr.engine`` records."""
    result = _run(["--version"], timeout=30)
    first = (result.stdout or result.stderr).decode("utf-8", "replace").strip().splitlines()
    return first[0].strip() if first else "tesseract"


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    """Language packs this worker has (``osd`` is not a language and is left out)."""
    result = _run(["--list-langs"], timeout=30)
    lines = (result.stdout or result.stderr).decode("utf-8", "replace").splitlines()
    return frozenset(line.strip() for line in lines[1:] if line.strip() and line.strip() != "osd")


def check_languages(languages: str) -> None:
    """Refuse a language with no traineddata, naming the package that provides it.

    Tesseract itself only warns about a missing language when another one loads,
    and then silently reads with the rest; we would rather say so.
    """
    wanted = [lang for lang in languages.split("+") if lang]
    missing = [lang for lang in wanted if lang not in installed_languages()]
    if missing:
        packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
        raise OcrLanguageMissing(
            f"Tesseract has no data for {', '.join(missing)} on this worker; install {packages}.",
            languages=missing,
        )


def encode(image: Image.Image) -> bytes:
    """PGM for grayscale: no compression to spend time on, and Leptonica reads it natively."""
    buffer = io.BytesIO()
    if image.mode in {"L", "1", "RGB"}:
        image.save(buffer, format="PPM")
    else:
        image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def recognise(image: Image.Image, settings: OcrSettings, *, dpi: int | None = None, layer: bool = False) -> OcrText:
    """Read one rendered page."""
    return recognise_bytes(encode(image), settings, dpi=dpi, layer=layer)


def recognise_bytes(data: bytes, settings: OcrSettings, *, dpi: int | None = None, layer: bool = False) -> OcrText:
    """Read one page given as an encoded image (PNM, PNG, TIFF, JPEG: whatever Leptonica reads).

    With ``layer``, the same run also writes Tesseract's text-only PDF of the page
    (its "sandwich" renderer, as ocrmypdf uses): invisible words placed where they
    are on the image, for the searchable PDF. It costs about a fifth more time.
    """
    check_languages(settings.languages)
    with tempfile.TemporaryDirectory(prefix="aegis-ocr-") as folder:
        base = Path(folder) / "page"
        args = ["stdin", str(base) if layer else "stdout", "-l", settings.languages, "--psm", str(PSM)]
        if dpi:
            args += ["--dpi", str(dpi)]
        args += ["-c", "textonly_pdf=1", "tsv", "pdf"] if layer else ["tsv"]
        try:
            result = _run(args, data=data, timeout=settings.page_timeout)
        except subprocess.TimeoutExpired as exc:
            raise OcrPageTimeout(f"OCR of the page took longer than {settings.page_timeout:g} seconds.") from exc
        if layer and result.returncode == 0:
            tsv = base.with_suffix(".tsv").read_bytes()
            pdf = base.with_suffix(".pdf").read_bytes()
            return dataclasses.replace(parse_tsv(tsv.decode("utf-8", "replace")), layer=pdf)
    if result.returncode != 0:
        detail = _last_error(result.stderr)
        if result.returncode < 0:
            raise OcrPageError(
                f"Tesseract crashed on the page (signal {-result.returncode}).", code=ErrorCode.OCR_ENGINE_CRASH
            )
        raise OcrPageError(f"Tesseract could not read the page image{': ' + detail if detail else ''}.")
    return parse_tsv(result.stdout.decode("utf-8", "replace"))


def _last_error(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    errors = [line for line in lines if re.search(r"error|cannot|can't|failed", line, re.IGNORECASE)]
    return (errors or lines or [""])[-1][:300]


def parse_tsv(tsv: str) -> OcrText:
    """Text and mean word confidence from Tesseract's TSV output.

    Words on one line are joined by spaces, lines by newlines, and paragraphs and
    blocks by a blank line, as Tesseract's own text renderer does, so chunking
    and search see the layout they would see from ``tesseract ... txt``.
    """
    lines: list[str] = []
    current: list[str] = []
    key: tuple[str, str, str] | None = None
    paragraph: tuple[str, str] | None = None
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t", 11)
        if len(cols) < 12 or cols[0] != "5":
            continue
        word = cols[11].strip()
        if not word:
            continue
        line_key = (cols[2], cols[3], cols[4])
        if line_key != key:
            if current:
                lines.append(" ".join(current))
            current = []
            if paragraph is not None and (cols[2], cols[3]) != paragraph:
                lines.append("")
            key, paragraph = line_key, (cols[2], cols[3])
        current.append(word)
        try:
            conf = float(cols[10])
        except ValueError:
            continue
        if conf >= 0:
            confidences.append(conf)
    if current:
        lines.append(" ".join(current))
    mean = round(sum(confidences) / len(confidences), 2) if confidences else None
    words = sum(len(line.split()) for line in lines)
    return OcrText(text=clean_text("\n".join(lines)), confidence=mean, words=words)
