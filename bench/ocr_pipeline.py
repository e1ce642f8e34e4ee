"""OCR at scale: a 40-page scan through the real pipeline with 1 and 2 OCR worker processes.

    .venv/bin/python bench/ocr_pipeline.py [--pages 40] [--ocrmypdf PATH/TO/ocrmypdf]

Makes a scan from born-digital corpus pages (rendered at 300 DPI, slightly tilted
and blurred, saved as an image-only PDF), then measures in the same run:

- baseline: the same pages rendered and read by Tesseract one after another in
  this process (``aegis.ocr.ocr_batch`` over all pages: no queue, no database);
- the pipeline with one OCR worker process, then with two (a fresh stack each:
  PostgreSQL, Redis, gateway, one worker per other stage, beat): the ``ocr``
  stage's wall time from its stage run, pages per second, the ratio 2 / 1, and
  the peak RSS of each OCR worker process tree;
- optionally ``ocrmypdf --jobs 2`` on the same PDF (install it in its own
  virtualenv with Debian's tesseract and ghostscript; never in Aegis's).

Not a test: only the ratios mean something across machines.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import redis  # noqa: E402

from aegis.ocr import OcrSettings, ocr_batch  # noqa: E402
from tests.harness import CORPUS, REDIS_HOST, REDIS_PORT, ApiClient, pick_redis_db, running_stack  # noqa: E402
from tests.scans import save_scan_pdf, scan_pages  # noqa: E402


def make_scan(path: Path, pages: int) -> Path:
    source = CORPUS / "pdf" / "DA-619p.pdf"
    images = scan_pages(source, list(range(1, pages + 1)), dpi=300)
    return save_scan_pdf(path, images, dpi=300)


def baseline(scan: Path, pages: int) -> float:
    started = time.perf_counter()
    results = ocr_batch(scan, "pdf", list(range(1, pages + 1)), OcrSettings())
    assert all(r.ok for r in results)
    return time.perf_counter() - started


class PeakRss:
    """Samples the resident memory of each process tree named in ``procs``."""

    def __init__(self, procs: dict[str, subprocess.Popen[bytes]]) -> None:
        self.procs = procs
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                try:
                    root = psutil.Process(proc.pid)
                    tree = [root, *root.children(recursive=True)]
                    # The worker (main + pool child) without its short-lived tesseract children.
                    rss = sum(p.memory_info().rss for p in tree if p.name() != "tesseract")
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0), rss)
            time.sleep(0.2)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def through_pipeline(scan: Path, processes: int) -> tuple[float, dict[str, int]]:
    index = pick_redis_db()
    broker = f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}"
    try:
        with running_stack(broker, extra_workers=("ocr",) * (processes - 1), AEGIS_LOG_LEVEL="WARNING") as stack:
            ocr = {name: proc for name, proc in stack.procs.items() if name.startswith("worker-ocr")}
            api = ApiClient(stack.url, stack.create_tenant(f"bench-{uuid.uuid4().hex[:8]}"))
            with PeakRss(ocr) as rss:
                doc = api.wait(api.upload(scan).json()["id"], timeout=3600)
            assert doc["status"] == "succeeded", doc
            return doc["stages"]["ocr"]["duration_ms"] / 1000, rss.peak
    finally:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--ocrmypdf", help="an ocrmypdf executable from its own virtualenv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scan = make_scan(Path(folder) / "scan.pdf", args.pages)
        n = args.pages
        base = baseline(scan, n)
        print(f"baseline, one process, page by page: {base:7.1f} s  {n / base:.3f} pages/s")
        one, rss_one = through_pipeline(scan, 1)
        print(f"pipeline, 1 OCR worker process:      {one:7.1f} s  {n / one:.3f} pages/s")
        two, rss_two = through_pipeline(scan, 2)
        print(f"pipeline, 2 OCR worker processes:    {two:7.1f} s  {n / two:.3f} pages/s")
        print(f"ratio 2 / 1 workers: {one / two:.2f}x   pipeline(2) / baseline: {base / two:.2f}x")
        for name, peak in {**rss_one, **{k + " (of 2)": v for k, v in rss_two.items()}}.items():
            print(f"peak RSS {name}: {peak / 2**20:.0f} MiB")
        if args.ocrmypdf:
            started = time.perf_counter()
            subprocess.run([args.ocrmypdf, "--jobs", "2", "--force-ocr", "--output-type", "pdf", "-q",
                            str(scan), str(Path(folder) / "out.pdf")], check=True)
            took = time.perf_counter() - started
            print(f"ocrmypdf --jobs 2:                   {took:7.1f} s  {n / took:.3f} pages/s"
                  f"   pipeline(2) / ocrmypdf: {took / two:.2f}x")


if __name__ == "__main__":
    main()
