"""Soak: 1,000 distinct documents through a running stack, looking for drift.

Starts the same stack the integration tests use (gunicorn gateway, one Celery
worker per stage queue, beat running the reconciler; PostgreSQL and Redis of its
own), then keeps ``--inflight`` documents in the pipeline until ``--count`` distinct
variants of the corpus files (bench/variants.py) have been uploaded and every one
has ended. It reports:

- throughput of the first and of the last window of documents to end (200 by
  default), in documents per second between the window's first and last
  completion; a pipeline that leaks or slows down shows a lower last window;
- each stage worker's resident memory (the worker and its pool children): the
  median over the first window (once the libraries a stage imports lazily are
  loaded) and over the last, the growth between the two, and the peak (pool
  children are recycled after 200 tasks, as in production);
- each worker's CPU-seconds per document over the run (children that were
  recycled included), next to the stage runs' wall time;
- every document's final status: a document still queued or processing when the
  ``--timeout`` expires is counted as such, and the run fails.

    .venv/bin/python bench/soak.py [--count 1000] [--corpus DIR] [--keep-db] [--json]

``--keep-db`` leaves the database in place and prints its URL, for
``bench/capacity.py --database-url``; drop it afterwards with ``dropdb``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from aegis.pipeline.registry import STAGES  # noqa: E402
from bench.variants import soak_sources, variants  # noqa: E402
from tests.harness import CORPUS, PG_ADMIN, ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402

MB = 1024 * 1024
ACTIVE = ("queued", "processing")


def tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss(pid: int) -> int:
    """Resident bytes of a worker and its pool children."""
    total = 0
    for proc in tree(pid):
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time of a worker, its live children and every child they have reaped."""
    total = 0.0
    for proc in tree(pid):
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        # A live process's children_* hold the CPU of the children it has reaped:
        # recycled pool children, Tesseract and LibreOffice subprocesses.
        total += times.user + times.system + times.children_user + times.children_system
    return total


class Database:
    """A database for the run: dropped at the end unless it is kept for bench/capacity.py."""

    def __init__(self, keep: bool) -> None:
        self.keep = keep
        self.url = ""
        self._context: Any = None

    def __enter__(self) -> str:
        if not self.keep:
            self._context = postgres_database()
            self.url = self._context.__enter__()
            return self.url
        name = f"aegis_soak_{time.strftime('%Y%m%d_%H%M%S')}_{uuid.uuid4().hex[:4]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self._context is not None:
            self._context.__exit__(*exc)


def status_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    rows = conn.execute("SELECT status, count(*) FROM documents GROUP BY status").fetchall()
    return {status: int(n) for status, n in rows}


def window_rates(finished: list[float], window: int) -> tuple[float, float]:
    """Documents per second over the first and the last ``window`` completions.

    Measured between completions (``window`` intervals), so neither window pays
    for the pipeline filling up or draining more than the other.
    """
    if len(finished) <= window:
        raise ValueError(f"need more than {window} completions, got {len(finished)}")
    first = finished[window] - finished[0]
    last = finished[-1] - finished[-1 - window]
    return window / first, window / last


def run(args: argparse.Namespace) -> dict[str, Any]:
    sources = soak_sources(args.corpus)
    if not sources:
        raise SystemExit(f"no documents under {args.corpus}")
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    result: dict[str, Any] = {"count": args.count, "sources": len(sources), "corpus": str(args.corpus)}
    database = Database(args.keep_db)
    with database as database_url:
        stack = Stack(database_url, redis_url, AEGIS_LOG_LEVEL="WARNING")
        try:
            stack.migrate()
            stack.start_gateway()
            stack.start_workers()
            stack.start_beat()
            api = ApiClient(stack.url, stack.create_tenant("soak"))
            pids = {stage: stack.procs[f"worker-{stage}"].pid for stage in STAGES}
            time.sleep(2)  # let the freshly forked pool children settle
            rss_start = {s: rss(p) for s, p in pids.items()}
            cpu_start = {s: cpu_seconds(p) for s, p in pids.items()}
            rss_peak = dict(rss_start)
            rss_samples: dict[str, list[tuple[int, int]]] = {s: [] for s in pids}
            upload_errors: dict[str, int] = {}
            generator = variants(sources, args.count)
            sent = 0
            started = time.time()
            deadline = time.monotonic() + args.timeout
            with psycopg.connect(database_url, autocommit=True) as conn, ThreadPoolExecutor(4) as pool, Progress(
                TextColumn("soak"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(), transient=False, disable=args.json or not sys.stderr.isatty(),
            ) as progress:
                bar = progress.add_task("soak", total=args.count, detail="")
                uploads: list[Future[Any]] = []
                last_print = 0.0
                while True:
                    # Uploads first: one that ends after the count would look like an idle pipeline.
                    uploads = [f for f in uploads if not f.done() or _record(f, upload_errors)]
                    counts = status_counts(conn)
                    active = sum(counts.get(s, 0) for s in ACTIVE)
                    ended = sum(counts.values()) - active
                    ended += sum(upload_errors.values())
                    slots = args.inflight - active - len(uploads)
                    while slots > 0 and sent < args.count:
                        name, data = next(generator)
                        uploads.append(pool.submit(api.upload_bytes, name, data))
                        sent += 1
                        slots -= 1
                    for stage, pid in pids.items():
                        resident = rss(pid)
                        rss_peak[stage] = max(rss_peak[stage], resident)
                        rss_samples[stage].append((ended, resident))
                    detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                    progress.update(bar, completed=ended, detail=detail)
                    if progress.disable and not args.json and time.monotonic() - last_print > 30:
                        print(f"  {ended}/{args.count} ended  {detail}", file=sys.stderr, flush=True)
                        last_print = time.monotonic()
                    if sent >= args.count and not uploads and active == 0:
                        break
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.25)
            wall = time.time() - started
            rss_end = {s: rss(p) for s, p in pids.items()}
            cpu_end = {s: cpu_seconds(p) for s, p in pids.items()}
            with psycopg.connect(database_url, autocommit=True) as conn:
                counts = status_counts(conn)
                finished = [row[0].timestamp() for row in conn.execute(
                    "SELECT updated_at FROM documents WHERE status NOT IN ('queued', 'processing') "
                    "ORDER BY updated_at").fetchall()]
                stage_wall = {stage: float(ms or 0) / 1000 for stage, ms in conn.execute(
                    "SELECT stage, sum(duration_ms) FROM stage_runs GROUP BY stage").fetchall()}
                pg_bytes = int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]
            blob_bytes = sum(p.stat().st_size for p in stack.data_dir.rglob("*") if p.is_file())
        except BaseException:
            print(stack.log_text(), file=sys.stderr)
            raise
        finally:
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()
    window = min(args.window, max(1, (len(finished) - 1) // 2))
    first, last = window_rates(finished, window) if len(finished) > 2 else (0.0, 0.0)
    documents = max(1, len(finished))
    result.update(
        wall_seconds=round(wall, 1),
        overall_docs_per_second=round(len(finished) / wall, 3),
        window=window,
        first_window_docs_per_second=round(first, 3),
        last_window_docs_per_second=round(last, 3),
        last_vs_first=round(last / first, 3) if first else None,
        statuses=counts,
        upload_errors=upload_errors,
        all_terminal=(not any(counts.get(s, 0) for s in ACTIVE) and not upload_errors
                      and sum(counts.values()) == args.count),
        rss_mb={s: _memory(rss_start[s], rss_samples[s], rss_end[s], rss_peak[s], args.count, window) for s in pids},
        cpu_seconds_per_document={s: round((cpu_end[s] - cpu_start[s]) / documents, 4) for s in pids},
        stage_wall_seconds_per_document={s: round(stage_wall.get(s, 0.0) / documents, 4) for s in pids},
        postgres_bytes=pg_bytes,
        blob_bytes=blob_bytes,
        database_url=database.url if args.keep_db else None,
    )
    return result


def _median_mb(samples: list[tuple[int, int]], low: int, high: int) -> float:
    values = [rss for ended, rss in samples if low <= ended < high]
    return round(statistics.median(values) / MB, 1) if values else 0.0


def _memory(
    start: int, samples: list[tuple[int, int]], end: int, peak: int, count: int, window: int
) -> dict[str, float]:
    """Resident memory of a worker over the run, as medians of the samples taken in each window.

    Medians, because a pool child recycled after 200 tasks (worker_max_tasks_per_child)
    makes a sample dip to the bare worker for a moment. The first window skips its
    first quarter, while the stage's libraries are still being imported.
    """
    first = _median_mb(samples, window // 4, window)
    last = _median_mb(samples, count - window, count + 1)
    return {"start": round(start / MB, 1), "first_window": first, "last_window": last,
            "end": round(end / MB, 1), "peak": round(peak / MB, 1), "growth": round(last - first, 1)}


def _record(future: Future[Any], errors: dict[str, int]) -> bool:
    """Drop a finished upload from the in-flight list, counting any that was not accepted."""
    try:
        response = future.result()
        if response.status_code not in (200, 201, 202):
            key = str(response.status_code)
            errors[key] = errors.get(key, 0) + 1
    except Exception as exc:  # noqa: BLE001 - reported, not fatal: the soak counts them
        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
    return False


def report(result: dict[str, Any]) -> None:
    print(f"{result['count']} documents from {result['sources']} corpus files ({result['corpus']})")
    print(f"wall {result['wall_seconds']} s, {result['overall_docs_per_second']} docs/s overall")
    print(f"first {result['window']}: {result['first_window_docs_per_second']} docs/s   "
          f"last {result['window']}: {result['last_window_docs_per_second']} docs/s   "
          f"last/first: {result['last_vs_first']} (target >= 0.85)")
    print(f"statuses: {result['statuses']}  upload errors: {result['upload_errors']}  "
          f"all terminal: {result['all_terminal']}")
    for stage, mem in result["rss_mb"].items():
        print(f"worker {stage:9s} RSS MB start {mem['start']:6.1f}  first window {mem['first_window']:6.1f}  "
              f"last window {mem['last_window']:6.1f}  "
              f"end {mem['end']:7.1f}  peak {mem['peak']:7.1f}  growth {mem['growth']:+6.1f} (target < 50)  "
              f"CPU s/doc {result['cpu_seconds_per_document'][stage]:.4f}  "
              f"stage wall s/doc {result['stage_wall_seconds_per_document'][stage]:.4f}")
    print(f"PostgreSQL database {result['postgres_bytes'] / MB:.1f} MB, blob store {result['blob_bytes'] / MB:.1f} MB")
    if result["database_url"]:
        print(f"kept database: {result['database_url']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="distinct documents to send (default 1000)")
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="folder of documents to vary (default: the shared corpus)")
    parser.add_argument("--keep-db", action="store_true", help="keep the database for bench/capacity.py")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--inflight", type=int, default=16, help="documents kept in the pipeline at once")
    parser.add_argument("--window", type=int, default=200, help="documents per throughput window")
    parser.add_argument("--timeout", type=float, default=4 * 3600, help="seconds before giving up")
    args = parser.parse_args()
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    os.environ.setdefault("AEGIS_LOG_LEVEL", "WARNING")
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        report(result)
    sys.exit(0 if result["all_terminal"] else 1)


if __name__ == "__main__":
    main()
