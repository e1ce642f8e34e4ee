"""Throughput of the running pipeline against the same stage functions in one process.

Pushes every PDF of ../shared/corpus/pdf through a real stack (PostgreSQL, Redis, the
gunicorn gateway, one Celery worker per queue) and reports documents per second,
next to a baseline measured in the same run: the same stage functions called one
after another in this process, with no queue, database or HTTP in between.

    .venv/bin/python bench/pipeline.py [--concurrency 1] [--rounds 1]

The ratio says what the distribution costs (or, with more workers, earns).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aegis import formats  # noqa: E402
from aegis.ai import get_provider  # noqa: E402
from aegis.config import load_settings  # noqa: E402
from aegis.formats.base import DocumentError  # noqa: E402
from aegis.pipeline.stages import limits_from  # noqa: E402
from aegis.text.chunking import chunk_pages  # noqa: E402
from aegis.text.language import detect_language  # noqa: E402
from tests.harness import CORPUS, ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402


def in_process(paths: list[Path]) -> tuple[float, dict[str, int]]:
    """The four stages' work, sequentially, in this process."""
    settings = load_settings({})
    limits = limits_from(settings)
    provider = get_provider(settings)
    outcomes = {"succeeded": 0, "rejected": 0}
    started = time.perf_counter()
    for path in paths:
        try:
            detection = formats.validate(path, path.name, limits)
            formats.extract_metadata(path, detection, limits)
            pages = formats.extract_pages(path, detection, limits)
            chunks = chunk_pages(pages, settings.chunk_chars, settings.chunk_overlap)
            text = "\n".join(p.text for p in pages)
            detect_language(text[:20_000])
            provider.analyze(text[:400_000], settings.classification_labels)
            for start in range(0, len(chunks), 64):
                provider.embed([c.text for c in chunks[start:start + 64]])
            outcomes["succeeded"] += 1
        except DocumentError:
            outcomes["rejected"] += 1
    return time.perf_counter() - started, outcomes


def through_pipeline(paths: list[Path], concurrency: int) -> tuple[float, dict[str, int]]:
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    import redis

    with postgres_database() as database_url:
        stack = Stack(database_url, redis_url, AEGIS_LOG_LEVEL="WARNING")
        try:
            stack.migrate()
            stack.start_gateway()
            stack.start_workers(concurrency)
            api = ApiClient(stack.url, stack.create_tenant("bench"))
            started = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                ids = [r.json()["id"] for r in pool.map(api.upload, paths)]
            outcomes: dict[str, int] = {}
            for i, doc_id in enumerate(ids, 1):
                status = api.wait(doc_id, timeout=600)["status"]
                outcomes[status] = outcomes.get(status, 0) + 1
                print(f"\r  pipeline: {i}/{len(ids)} documents ended", end="", file=sys.stderr)
            print(file=sys.stderr)
            return time.perf_counter() - started, outcomes
        finally:
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=1, help="processes per stage worker")
    args = parser.parse_args()
    paths = sorted((CORPUS / "pdf").glob("*.pdf"))
    print(f"{len(paths)} PDFs from {CORPUS / 'pdf'}")
    base_seconds, base_outcomes = in_process(paths)
    pipe_seconds, pipe_outcomes = through_pipeline(paths, args.concurrency)
    base_rate = len(paths) / base_seconds
    pipe_rate = len(paths) / pipe_seconds
    print(f"in one process (baseline): {base_seconds:7.2f} s  {base_rate:6.2f} docs/s  {base_outcomes}")
    print(f"pipeline (4 workers x {args.concurrency}): {pipe_seconds:7.2f} s  {pipe_rate:6.2f} docs/s  {pipe_outcomes}")
    print(f"ratio pipeline/baseline: {pipe_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
