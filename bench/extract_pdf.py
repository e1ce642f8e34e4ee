"""Benchmark: our PDF text extraction (PDFium) against pypdf's extract_text.

Run from the project root:  .venv/bin/python bench/extract_pdf.py [corpus/pdf dir]
(bench/extract.py compares every family with kreuzberg.)

Each engine runs in its own child process over the same files, so the peak
memory of one does not hide in the other's; the parent prints pages per second
for both, their ratio, and each child's peak RSS (``resource``: PDFium allocates
outside Python, where tracemalloc cannot see, and tracemalloc's hooks would slow
pure-Python pypdf several times over and make the comparison unfair). Files that either
engine cannot open (the encrypted ones) are left out of both. Not a test: the
numbers depend on the machine; only the ratio means something.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus" / "pdf"


def _ours(paths: list[Path]) -> dict[str, float]:
    from aegis.formats import DocumentError, Limits, extract_pages, validate

    limits = Limits()
    pages = chars = 0
    elapsed = 0.0
    per_file: dict[str, float] = {}
    for path in paths:
        try:
            detection = validate(path, path.name, limits)
        except DocumentError:
            continue
        started = time.perf_counter()
        result = extract_pages(path, detection, limits)
        took = time.perf_counter() - started
        elapsed += took
        per_file[path.name] = took
        pages += len(result)
        chars += sum(len(page.text) for page in result)
    return {"pages": pages, "chars": chars, "seconds": elapsed, "per_file": per_file}  # type: ignore[dict-item]


def _pypdf(paths: list[Path]) -> dict[str, float]:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    pages = chars = 0
    elapsed = 0.0
    per_file: dict[str, float] = {}
    for path in paths:
        started = time.perf_counter()
        reader = PdfReader(path)
        for page in reader.pages:
            chars += len(page.extract_text() or "")
            pages += 1
        took = time.perf_counter() - started
        elapsed += took
        per_file[path.name] = took
    return {"pages": pages, "chars": chars, "seconds": elapsed, "per_file": per_file}  # type: ignore[dict-item]


def _openable(paths: list[Path]) -> list[Path]:
    """Files both engines can read without a password."""
    from aegis.formats import DocumentError, Limits, validate

    keep = []
    for path in paths:
        try:
            validate(path, path.name, Limits())
        except DocumentError:
            continue
        try:
            from pypdf import PdfReader

            if PdfReader(path).is_encrypted:
                continue
        except Exception:  # noqa: BLE001 - a file pypdf cannot open is left out of both
            continue
        keep.append(path)
    return keep


def child(engine: str, files: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    paths = [Path(f) for f in files]
    result = _ours(paths) if engine == "ours" else _pypdf(paths)
    # ru_maxrss is in KiB on Linux.
    result["rss_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def run(engine: str, files: list[Path]) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", engine, *map(str, files)],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    sys.path.insert(0, str(ROOT))
    files = _openable(sorted(corpus.glob("*.pdf")))
    if not files:
        sys.exit(f"no readable PDFs in {corpus}")
    print(f"{len(files)} PDFs from {corpus}")
    ours = run("ours", files)
    theirs = run("pypdf", files)
    for label, result in (("aegis (PDFium)", ours), ("pypdf extract_text", theirs)):
        rate = result["pages"] / result["seconds"]
        print(
            f"{label:20s} {int(result['pages']):6d} pages in {result['seconds']:7.2f} s = {rate:8.1f} pages/s,"
            f" {int(result['chars']):9d} chars, peak RSS {result['rss_peak_mb']:6.0f} MB"
        )
        slowest = sorted(result["per_file"].items(), key=lambda kv: -kv[1])[:3]  # type: ignore[union-attr]
        print("    slowest: " + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in slowest))
    ratio = (ours["pages"] / ours["seconds"]) / (theirs["pages"] / theirs["seconds"])
    print(f"ratio (ours / pypdf, pages per second): {ratio:.1f}x")
    big = "DA-619p.pdf"
    if big in ours["per_file"] and big in theirs["per_file"]:  # type: ignore[operator]
        a, b = ours["per_file"][big], theirs["per_file"][big]  # type: ignore[index]
        print(f"{big}: aegis {619 / a:.1f} pages/s, pypdf {619 / b:.1f} pages/s, ratio {b / a:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3:])
    else:
        main()
