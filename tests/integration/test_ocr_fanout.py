"""One long scan spread over two OCR worker processes, one of them killed mid-batch.

Its own stack: an OCR limit short enough for the reconciler's recovery to happen
within the test, yet long enough for a batch on a loaded machine; two ``ocr``
workers; the database read directly to see which worker ran which batch.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from aegis.persistence.db import session_scope
from aegis.persistence.models import Batch, PageText
from tests.harness import CORPUS, REDIS_HOST, REDIS_PORT, ApiClient, Stack, pick_redis_db, running_stack, wait_for
from tests.scans import save_scan_pdf, scan_pages

pytestmark = pytest.mark.integration
PAGES = 30


# Each page is the top fifth of a text page (a heading and about 95 words): OCR time grows
# with the text on a page, and a full page took 10-15 s on a loaded machine, a fifth of one
# 1.5-2.6 s. A batch of two such pages is then about 5 s under load; this limit is six times
# that (full pages needed 90 s, and the re-send waits this long). The killed worker's batch is
# re-sent only after this limit, while the other worker still has most of the scan to read.
OCR_LIMIT = 30
# One part in PAGE_CROP of each rendered page is kept, from its top.
PAGE_CROP = 5


@pytest.fixture(scope="module")
def ocr_stack() -> Iterator[Stack]:
    index = pick_redis_db()
    try:
        with running_stack(
            f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}", extra_workers=("ocr",), AEGIS_RECONCILE_INTERVAL="2",
            AEGIS_TIME_LIMIT_OCR=str(OCR_LIMIT), AEGIS_OCR_BATCH_PAGES="2", AEGIS_OCR_DPI="150",
        ) as stack:
            yield stack
    finally:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index).flushdb()


def _batches(stack: Stack, doc_id: str) -> list[Batch]:
    with session_scope(stack.settings()) as session:
        rows = list(session.scalars(select(Batch).where(Batch.document_id == doc_id).order_by(Batch.index)))
        session.expunge_all()
        return rows


def test_a_30_page_scan_uses_both_ocr_workers_and_survives_one_being_killed(
    ocr_stack: Stack, tmp_path: Path
) -> None:
    api = ApiClient(ocr_stack.url, ocr_stack.create_tenant(f"ocr-{uuid.uuid4().hex[:8]}"))
    source = CORPUS / "pdf" / "pdflatex-4-pages.pdf"
    images = [page.crop((0, 0, page.width, page.height // PAGE_CROP))
              for page in scan_pages(source, [1, 2, 3, 4], dpi=110)]
    scan = save_scan_pdf(tmp_path / "long-scan.pdf", [images[i % 4] for i in range(PAGES)], dpi=110)
    doc_id = api.upload(scan).json()["id"]

    def both_workers_busy() -> bool:
        workers = {b.worker.split("@")[0].rsplit("-", 1)[0] for b in _batches(ocr_stack, doc_id) if b.worker}
        return workers >= {"worker-ocr", "worker-ocr-2"}

    wait_for(both_workers_busy, 120, interval=0.2, message="batches claimed by both OCR workers")
    # Kill the second worker (main process and pool) while it holds a batch.
    ocr_stack.stop("worker-ocr-2", sig=signal.SIGKILL)

    # Bounded, not timed: the re-send after OCR_LIMIT, and 15 batches on one loaded worker.
    doc = api.wait(doc_id, timeout=OCR_LIMIT + 15 * OCR_LIMIT // 2)
    assert doc["status"] == "succeeded", (doc, ocr_stack.log_text())
    run = doc["stages"]["ocr"]
    assert run["status"] == "succeeded" and run["pages_total"] == PAGES, run
    batches = _batches(ocr_stack, doc_id)
    assert len(batches) == PAGES // 2
    assert {b.status for b in batches} == {"succeeded"}
    # Short pages must not let the kill fall between two batches: the one it held ran again.
    assert any(b.attempts >= 2 for b in batches), [(b.index, b.worker, b.attempts) for b in batches]
    assert {tuple(b.pages) for b in batches} == {(n, n + 1) for n in range(1, PAGES + 1, 2)}
    with session_scope(ocr_stack.settings()) as session:
        pages = list(session.scalars(select(PageText).where(PageText.document_id == doc_id)))
        assert sorted(p.number for p in pages) == list(range(1, PAGES + 1))  # one row per page, none twice
        assert all(p.ocr and p.text.strip() and p.ocr_confidence for p in pages)
        assert not [p.number for p in pages if p.ocr_error]
    content = api.get(f"/v1/documents/{doc_id}/content").json()
    assert len(content["pages"]) == PAGES
    assert content["chunks"] and content["chunks"][-1]["page_end"] == PAGES
    # The join ran once: the ai stage ran once.
    assert doc["stages"]["ai"]["attempts"] == 1
