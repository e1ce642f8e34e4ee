"""The reconciler's scan on a table of realistic size, before and after migration 0003.

Fills a fresh PostgreSQL database (schema at revision 0002) with ``--documents``
documents of a production-like mix (most succeeded, a few rejected or failed, a
few hundred in flight of which a handful are stuck), their stage runs and OCR
batches, then times ``reconcile()`` itself (the function beat runs, on one pooled
connection, rolled back after each call so every call sees the same stuck rows) and
prints PostgreSQL's plan for its two scans. Then it upgrades to 0003 (partial
indexes holding only the rows in flight) and measures again in the same run.

    .venv/bin/python bench/reconciler_scan.py [--documents 10000] [--repeat 20]

Target: the scan under 1 s with 10,000 documents in the table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import event  # noqa: E402

from aegis.config import load_settings  # noqa: E402
from aegis.persistence import migrate  # noqa: E402
from aegis.persistence.db import dispose_engines, get_engine, session_factory  # noqa: E402
from aegis.pipeline import reconciler  # noqa: E402
from aegis.pipeline.registry import STAGES  # noqa: E402
from tests.harness import postgres_database  # noqa: E402

# The mix, per 10,000 documents: what a day of the shared corpus looks like once it has run.
MIX = {"succeeded": 0.946, "rejected": 0.02, "failed": 0.009, "processing": 0.015, "queued": 0.01}
STUCK = 10  # processing documents whose worker died: the rows the scan must find
OCR_SHARE = 0.1  # documents that went through fanned-out OCR (3 batches each)


def _copy(conn: psycopg.Connection[Any], table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def fill(database_url: str, documents: int, seed: int = 12) -> dict[str, int]:
    """Documents, stage runs and batches straight through COPY (the API would take hours for 1M)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    tenant = str(uuid.uuid4())
    docs: list[tuple[Any, ...]] = []
    runs: list[tuple[Any, ...]] = []
    batches: list[tuple[Any, ...]] = []
    counts: dict[str, int] = {}
    statuses = rng.choices(list(MIX), weights=list(MIX.values()), k=documents)
    stuck = 0
    for n, status in enumerate(statuses):
        doc_id = str(uuid.uuid4())
        created = now - timedelta(seconds=rng.uniform(60, 86_400))
        if status in ("queued", "processing"):
            created = now - timedelta(seconds=rng.uniform(1, 20))
        progress = created + timedelta(seconds=2)
        stage: str | None = None
        done = len(STAGES)
        if status == "queued":
            stage, done, progress = STAGES[0], 0, created
        elif status == "processing":
            done = rng.randrange(len(STAGES))
            stage = STAGES[done]
            if stuck < STUCK:
                stuck += 1
                progress = now - timedelta(hours=1)
                created = progress - timedelta(seconds=5)
            else:
                progress = now - timedelta(seconds=rng.uniform(0, 3))
        elif status in ("rejected", "failed"):
            done = rng.randrange(1, len(STAGES))
        counts[status] = counts.get(status, 0) + 1
        docs.append((doc_id, tenant, f"doc-{n}.pdf", uuid.uuid4().hex * 2, rng.randint(1_000, 3_000_000),
                     "application/pdf", "pdf", status, stage, str(uuid.uuid4()), created, progress, progress, 1))
        for i, name in enumerate(STAGES[: done + (1 if stage else 0)]):
            running = stage == name
            run_status = "running" if running and status == "processing" else (
                "pending" if running else ("succeeded" if status == "succeeded" or i < done - 1 else status))
            started = created + timedelta(seconds=i * 0.4)
            runs.append((doc_id, name, run_status, 1, started, None if running else started + timedelta(seconds=0.3),
                         None if running else 300))
        if "ocr" in STAGES and (rng.random() < OCR_SHARE or stage == "ocr"):
            for index in range(3):
                batch_status = "succeeded" if stage != "ocr" else ("running" if index == 0 else "pending")
                batches.append((doc_id, "ocr", index, f"[{index * 4}, {index * 4 + 1}]", batch_status, 1,
                                progress if batch_status == "running" else None))
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (id, name, created_at, token_budget, tokens_used) "
                     "VALUES (%s, 'scan', now(), 0, 0)", (tenant,))
        _copy(conn, "documents", ["id", "tenant_id", "filename", "sha256", "size", "mime", "family", "status",
                                  "stage", "dispatch_token", "created_at", "updated_at", "progress_at",
                                  "enqueue_count"], docs)
        _copy(conn, "stage_runs", ["document_id", "stage", "status", "attempts", "started_at", "finished_at",
                                   "duration_ms"], runs)
        _copy(conn, "batches", ["document_id", "stage", "index", "pages", "status", "attempts", "started_at"],
              batches)
        conn.execute("VACUUM ANALYZE")
    counts.update(stage_runs=len(runs), batches=len(batches), stuck=stuck)
    return counts


def measure(settings: Any, repeat: int) -> tuple[list[float], int, list[tuple[str, Any]]]:
    """``reconcile()`` timed ``repeat`` times on one session, each rolled back; the SQL of the last call."""
    engine = get_engine(settings)
    statements: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))

    timings: list[float] = []
    actions = 0
    with session_factory(settings)() as session:
        for i in range(repeat):
            if i == repeat - 1:
                event.listen(engine, "before_cursor_execute", capture)
            started = time.perf_counter()
            actions = len(reconciler.reconcile(session, settings))
            session.flush()
            timings.append(time.perf_counter() - started)
            session.rollback()
    event.remove(engine, "before_cursor_execute", capture)
    return timings, actions, statements


def explain(settings: Any, statements: list[tuple[str, Any]]) -> list[str]:
    """PostgreSQL's plan for the two scans (documents in flight, running batches)."""
    lines: list[str] = []
    engine = get_engine(settings)
    scans = [s for s in statements if s[0].lstrip().upper().startswith("SELECT")
             and ("FOR UPDATE" in s[0].upper()) and ("progress_at <" in s[0] or "batches.started_at <" in s[0])]
    with engine.connect() as conn:
        for statement, parameters in scans[:2]:
            which = "documents scan" if "progress_at <" in statement else "batches scan"
            result = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, SUMMARY ON) " + statement, parameters)
            lines.append(f"  -- {which}")
            lines.extend("    " + row[0] for row in result)
        conn.rollback()
    return lines


def index_sizes(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index "
            "WHERE indrelid IN ('documents'::regclass, 'batches'::regclass) ORDER BY 1"
        ).fetchall()
    return ", ".join(f"{name} {size / 1024:.0f} KiB" for name, size in rows)


def run_one(label: str, settings: Any, repeat: int) -> dict[str, Any]:
    timings, actions, statements = measure(settings, repeat)
    median = statistics.median(timings) * 1000
    print(f"{label}: reconcile() median {median:8.2f} ms  first {timings[0] * 1000:8.2f} ms  "
          f"max {max(timings) * 1000:8.2f} ms  "
          f"({repeat} calls, {actions} actions, {len(statements)} SQL statements each)")
    for line in explain(settings, statements):
        print(line)
    return {"median_ms": median, "first_ms": timings[0] * 1000, "max_ms": max(timings) * 1000, "actions": actions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20, help="reconcile() calls per measurement")
    args = parser.parse_args()
    with postgres_database() as database_url:
        settings = load_settings({"AEGIS_DATABASE_URL": database_url})
        try:
            migrate.upgrade(settings, "0002")
            started = time.perf_counter()
            counts = fill(database_url, args.documents)
            print(f"{args.documents} documents in {time.perf_counter() - started:.1f} s: {counts}")
            print(f"indexes before: {index_sizes(database_url)}")
            before = run_one("before (0002: status-first indexes on every row)", settings, args.repeat)
            dispose_engines()
            migrate.upgrade(settings)
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute("ANALYZE")
            after = run_one("after  (0003: partial indexes on rows in flight)", settings, args.repeat)
            print(f"indexes after: {index_sizes(database_url)}")
            print(f"ratio before/after (median): {before['median_ms'] / after['median_ms']:.2f}  "
                  f"target: after < 1000 ms -> {'met' if after['max_ms'] < 1000 else 'NOT met'}")
        finally:
            dispose_engines()


if __name__ == "__main__":
    main()
