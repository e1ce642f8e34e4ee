"""What a document costs, stage by stage, from the record of a benchmark run.

Reads the stage runs, OCR batches, pages and documents of a run's database (a
``bench/soak.py --keep-db`` run, or any Aegis database) and prints, per stage and
format family, the seconds a worker spent per document, per page and per MB, then
the per-document volumes the capacity model needs (PostgreSQL rows and bytes,
Redis messages, stored bytes) and that model for the given daily volumes.

Seconds are **wall-seconds of the stage run** (``finished_at - started_at`` as the
runner records it; for the fanned-out OCR stage, the sum of its batches' claims, so
queue waits between batches are not counted): Aegis does not record CPU time per
task. With one process per worker and no I/O wait on local disks they are an upper
bound of the CPU-seconds; bench/soak.py prints each worker's measured CPU-seconds
per document next to the same wall-seconds, the ratio to scale these by.

    .venv/bin/python bench/capacity.py --database-url postgresql://postgres@127.0.0.1:5432/aegis_soak_...
        [--per-day 100000 1000000] [--peak 2.0] [--utilization 0.7] [--json]

docs/capacity.md explains the model and what saturates first.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MB = 1024 * 1024
DAY = 86_400.0


@dataclass(frozen=True)
class Sample:
    """One stage run of one document."""

    stage: str
    family: str
    seconds: float
    pages: int
    size: int


@dataclass
class Cost:
    documents: int = 0
    seconds: float = 0.0
    pages: int = 0
    size: int = 0

    def add(self, sample: Sample) -> None:
        self.documents += 1
        self.seconds += sample.seconds
        self.pages += sample.pages
        self.size += sample.size

    @property
    def per_document(self) -> float:
        return self.seconds / self.documents if self.documents else 0.0

    @property
    def per_page(self) -> float:
        return self.seconds / self.pages if self.pages else 0.0

    @property
    def per_mb(self) -> float:
        return self.seconds / (self.size / MB) if self.size else 0.0


def summarize(samples: list[Sample]) -> dict[tuple[str, str], Cost]:
    """Cost per (stage, family), plus (stage, "all") over every family in the run's mix."""
    costs: dict[tuple[str, str], Cost] = defaultdict(Cost)
    for sample in samples:
        costs[(sample.stage, sample.family)].add(sample)
        costs[(sample.stage, "all")].add(sample)
    return dict(costs)


@dataclass(frozen=True)
class Volumes:
    """What one document of the run's mix leaves behind and sends, on average."""

    documents: int
    rows: dict[str, float]  # table -> rows per document
    pg_bytes: dict[str, float]  # table -> bytes per document (heap, indexes and TOAST)
    messages: float  # broker messages (stage tasks and OCR batches, retries included)
    stored_bytes: float  # originals in the blob store


@dataclass
class Plan:
    per_day: int
    replicas: dict[str, int] = field(default_factory=dict)
    busy_seconds_per_day: dict[str, float] = field(default_factory=dict)
    messages_per_second_peak: float = 0.0
    pg_rows_per_day: float = 0.0
    pg_bytes_per_day: float = 0.0
    storage_bytes_per_day: float = 0.0
    pg_writes_per_second_peak: float = 0.0


def plan(per_day: int, seconds_per_document: dict[str, float], volumes: Volumes,
         peak: float = 2.0, utilization: float = 0.7) -> Plan:
    """Replicas per stage and daily volumes for ``per_day`` documents of the measured mix.

    A stage needs ``per_day * seconds / 86,400`` busy worker processes on average;
    ``peak`` is the busiest hour's rate over the day's average and ``utilization`` the
    share of a process we plan to keep busy (queues stay short), so
    ``replicas = ceil(average * peak / utilization)`` processes of one core each.
    """
    result = Plan(per_day=per_day)
    for stage, seconds in seconds_per_document.items():
        busy = per_day * seconds
        result.busy_seconds_per_day[stage] = busy
        result.replicas[stage] = max(1, math.ceil(busy / DAY * peak / utilization))
    rate_peak = per_day / DAY * peak
    result.messages_per_second_peak = rate_peak * volumes.messages
    rows = sum(volumes.rows.values())
    result.pg_rows_per_day = per_day * rows
    result.pg_bytes_per_day = per_day * sum(volumes.pg_bytes.values())
    result.storage_bytes_per_day = per_day * volumes.stored_bytes
    result.pg_writes_per_second_peak = rate_peak * rows
    return result


def load(database_url: str) -> tuple[list[Sample], Volumes]:
    """Samples and volumes from a run's database (read only)."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        pages = dict(conn.execute("SELECT document_id, count(*) FROM pages GROUP BY document_id").fetchall())
        batch_seconds = dict(conn.execute(
            "SELECT document_id, sum(extract(epoch FROM finished_at - started_at)) FROM batches "
            "WHERE finished_at IS NOT NULL GROUP BY document_id").fetchall())
        rows = conn.execute(
            "SELECT r.document_id, r.stage, coalesce(d.family, 'unknown'), d.size, r.duration_ms, r.status "
            "FROM stage_runs r JOIN documents d ON d.id = r.document_id "
            "WHERE r.status IN ('succeeded', 'failed') AND r.duration_ms IS NOT NULL").fetchall()
        samples = []
        for document_id, stage, family, size, duration_ms, _status in rows:
            seconds = float(batch_seconds.get(document_id) or 0) if stage == "ocr" and document_id in batch_seconds \
                else duration_ms / 1000
            samples.append(Sample(stage, family, seconds, int(pages.get(document_id, 0)), int(size)))
        documents = int(conn.execute("SELECT count(*) FROM documents").fetchone()[0])  # type: ignore[index]
        tables = ("documents", "stage_runs", "batches", "pages", "chunks")
        row_counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # type: ignore[index]
        sizes = {t: int(conn.execute("SELECT pg_total_relation_size(%s::regclass)", (t,)).fetchone()[0])  # type: ignore[index]
                 for t in tables}
        tasks = conn.execute("SELECT coalesce(sum(greatest(attempts, 1)), 0) FROM stage_runs").fetchone()[0]  # type: ignore[index]
        batch_tasks = conn.execute("SELECT coalesce(sum(greatest(attempts, 1)), 0) FROM batches").fetchone()[0]  # type: ignore[index]
        stored = conn.execute("SELECT coalesce(sum(size), 0) FROM documents").fetchone()[0]  # type: ignore[index]
    n = max(documents, 1)
    volumes = Volumes(
        documents=documents,
        rows={t: c / n for t, c in row_counts.items()},
        pg_bytes={t: s / n for t, s in sizes.items()},
        messages=(int(tasks) + int(batch_tasks)) / n,
        stored_bytes=int(stored) / n,
    )
    return samples, volumes


def _human(value: float, unit: str = "B") -> str:
    for prefix in ("", "K", "M", "G", "T"):
        if abs(value) < 1024 or prefix == "T":
            return f"{value:.1f} {prefix}{unit}"
        value /= 1024
    return f"{value:.1f} {unit}"


def report(costs: dict[tuple[str, str], Cost], volumes: Volumes, plans: list[Plan], stages: list[str]) -> None:
    print("wall-seconds of stage runs (CPU is not recorded per task; see bench/soak.py for CPU/wall per worker)")
    print(f"{'stage':9s} {'family':12s} {'docs':>6s} {'pages':>7s} {'MB':>8s} "
          f"{'s/doc':>8s} {'s/page':>8s} {'s/MB':>8s}")
    for stage in stages:
        for (s, family), cost in sorted(costs.items(), key=lambda kv: (kv[0][1] == "all", kv[0][1])):
            if s != stage:
                continue
            print(f"{stage:9s} {family:12s} {cost.documents:6d} {cost.pages:7d} {cost.size / MB:8.1f} "
                  f"{cost.per_document:8.4f} {cost.per_page:8.4f} {cost.per_mb:8.4f}")
    print(f"\nper document of this mix ({volumes.documents} documents): "
          f"{volumes.messages:.2f} broker messages, {_human(volumes.stored_bytes)} stored")
    for table in volumes.rows:
        print(f"  {table:11s} {volumes.rows[table]:8.2f} rows  {_human(volumes.pg_bytes[table]):>10s}")
    for p in plans:
        print(f"\n{p.per_day:,} documents/day:")
        print("  replicas: " + ", ".join(f"{s} {p.replicas[s]}" for s in stages if s in p.replicas))
        print(f"  broker messages/s at peak {p.messages_per_second_peak:.1f}; "
              f"PostgreSQL rows/day {p.pg_rows_per_day:,.0f} ({p.pg_writes_per_second_peak:.0f} rows/s at peak), "
              f"bytes/day {_human(p.pg_bytes_per_day)}; blob store growth/day {_human(p.storage_bytes_per_day)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="the database of a benchmark run (read only)")
    parser.add_argument("--per-day", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--peak", type=float, default=2.0, help="busiest hour's rate over the daily average")
    parser.add_argument("--utilization", type=float, default=0.7, help="share of each worker process kept busy")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from aegis.pipeline.registry import STAGES

    samples, volumes = load(args.database_url)
    if not samples:
        raise SystemExit("no finished stage runs in that database")
    costs = summarize(samples)
    # Per document of the mix: a stage's total over every document, skipped runs counting zero.
    per_document = {s: costs[(s, "all")].seconds / max(volumes.documents, 1) for s in STAGES if (s, "all") in costs}
    plans = [plan(n, per_document, volumes, args.peak, args.utilization) for n in args.per_day]
    if args.json:
        print(json.dumps({
            "costs": [{"stage": s, "family": f, "documents": c.documents, "pages": c.pages, "bytes": c.size,
                       "seconds": c.seconds, "per_document": c.per_document, "per_page": c.per_page,
                       "per_mb": c.per_mb} for (s, f), c in sorted(costs.items())],
            "seconds_per_document": per_document, "volumes": asdict(volumes), "plans": [asdict(p) for p in plans],
        }))
    else:
        report(costs, volumes, plans, list(STAGES))


if __name__ == "__main__":
    main()
