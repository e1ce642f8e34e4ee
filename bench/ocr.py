"""Benchmark: OCR pages per second with 1 and with 2 worker processes.

Run from the project root:  .venv/bin/python bench/ocr.py [--pages 16] [--dpi 300]

Draws an N-page A4 scan (an image-only PDF, 300 DPI, dense typewriter-like
text), plans it, splits it into ``AEGIS_OCR_BATCH_PAGES`` batches and OCRs the
batches through :func:`aegis.ocr.ocr_batch` in a process pool of 1 and then 2
processes: the shape of the real ``ocr`` queue with one and two prefork
children. Prints the time per page split into render and recognition, pages per
second for each pool size, their ratio, and the peak RSS of a worker process
and of a Tesseract child. Not a test: absolute numbers depend on the machine;
the ratio says whether a second worker process buys a second core's worth.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from aegis.ocr import OcrSettings, ocr_batch, pages_to_ocr, recognise, render_page, split_batches  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SENTENCES = (
    "The parties agree that the invoice number {n} is payable within thirty days.",
    "Delivery of the goods listed below took place on the fourteenth of March.",
    "Please quote the reference AEGIS-{n} in every payment and all correspondence.",
    "Any dispute is settled under the law of the place where the seller resides.",
)


def draw_scan(path: Path, pages: int, dpi: int = 300) -> None:
    """An A4 image-only PDF with about 45 lines of 11 pt text a page."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = round(8.27 * dpi), round(11.69 * dpi)
    face = ImageFont.truetype(FONT, round(11 / 72 * dpi))
    images = []
    for n in range(pages):
        page = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(page)
        for line in range(45):
            text = SENTENCES[line % len(SENTENCES)].format(n=1000 * n + line)
            draw.text((round(0.8 * dpi), round(0.9 * dpi) + line * round(0.22 * dpi)), text, fill=0, font=face)
        images.append(page)
    images[0].save(path, "PDF", resolution=dpi, save_all=True, append_images=images[1:])


def _batch(args: tuple[Path, list[int], OcrSettings]) -> tuple[int, int, int]:
    path, pages, settings = args
    results = ocr_batch(path, "pdf", pages, settings)
    words = sum(len(r.text.split()) for r in results if r.ok)
    # The pool is spawned, not forked, so this is the worker's own peak, not its parent's.
    return len(results), words, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def tesseract_peak_rss(image: Image.Image, settings: OcrSettings, dpi: int | None) -> float:
    """Peak RSS of one Tesseract process on one page, sampled every 20 ms (MB).

    ``RUSAGE_CHILDREN`` would report the worker's own size: a forked child's peak
    starts at its parent's before it execs Tesseract.
    """
    import subprocess
    import threading

    import psutil

    from aegis.ocr.engine import encode

    data = encode(image)
    proc = subprocess.Popen(
        ["tesseract", "stdin", "stdout", "-l", settings.languages, "--psm", "3", "--dpi", str(dpi or 300), "tsv"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        watched = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    proc.communicate(data)
    done.set()
    sampler.join()
    return peak / 2**20


def run_pool(path: Path, batches: list[list[int]], settings: OcrSettings, processes: int) -> dict[str, float]:
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_warm, range(processes)))  # start-up is not OCR time
        started = time.perf_counter()
        outcomes = list(pool.map(_batch, [(path, batch, settings) for batch in batches]))
        seconds = time.perf_counter() - started
    pages = sum(o[0] for o in outcomes)
    return {
        "pages": pages,
        "words": sum(o[1] for o in outcomes),
        "seconds": seconds,
        "pages_per_second": pages / seconds,
        "worker_rss_mb": max(o[2] for o in outcomes) / 1024,
    }


def _warm(_: int) -> None:
    time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=16, help="a multiple of 2 x batch size splits evenly")
    parser.add_argument("--dpi", type=int, default=300)
    args = parser.parse_args()
    settings = OcrSettings.from_env(os.environ)
    settings = OcrSettings(**{**settings.__dict__, "dpi": args.dpi})

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scan.pdf"
        draw_scan(path, args.pages)
        started = time.perf_counter()
        pages = pages_to_ocr(path, "pdf", settings)
        plan_seconds = time.perf_counter() - started
        batches = split_batches(pages, settings.batch_pages)

        started = time.perf_counter()
        rendered = render_page(path, "pdf", 1, settings)
        render_seconds = time.perf_counter() - started
        started = time.perf_counter()
        recognise(rendered.image, settings, dpi=rendered.dpi)
        ocr_seconds = time.perf_counter() - started
        size = rendered.image.size
        tesseract_mb = tesseract_peak_rss(rendered.image, settings, rendered.dpi)
        rendered.close()

        print(f"scan: {args.pages} A4 pages, {settings.dpi} DPI ({size[0]}x{size[1]} px), {os.cpu_count()} CPUs")
        print(f"plan: {plan_seconds * 1000:.1f} ms for {len(pages)} pages needing OCR, {len(batches)} batches")
        print(f"one page: render {render_seconds:.2f} s + tesseract {ocr_seconds:.2f} s")
        one = run_pool(path, batches, settings, 1)
        two = run_pool(path, batches, settings, 2)
        for name, result in (("1 process ", one), ("2 processes", two)):
            print(
                f"{name}: {result['pages_per_second']:.3f} pages/s ({result['seconds']:.1f} s, "
                f"{result['seconds'] / result['pages']:.2f} s/page wall), words {result['words']}, "
                f"peak RSS per worker {result['worker_rss_mb']:.0f} MB"
            )
        print(f"peak RSS of one tesseract process: {tesseract_mb:.0f} MB")
        print(f"ratio 2 vs 1 processes: {two['pages_per_second'] / one['pages_per_second']:.2f}x")


if __name__ == "__main__":
    main()
