"""Throughput of the running pipeline against ``aegis extract`` in one process.

Pushes every file of a corpus folder (default: all of ../shared/corpus, every
format) through a real stack (PostgreSQL, Redis, the gunicorn gateway, one Celery
worker per stage queue) and reports documents per second, next to a baseline
measured in the same run: ``aegis extract``'s code path
(:mod:`aegis.pipeline.inprocess`: the same runner and stages, one file after the
other in this process, in-memory SQLite, no queue and no HTTP).

    .venv/bin/python bench/pipeline.py [--corpus DIR] [--concurrency 1] [--clients 4]

Then, from the pipeline's own ``stage_runs`` rows: busy seconds per stage (the
bottleneck bounds throughput) and the hops under load (a stage's ``started_at``
minus the previous stage's ``finished_at``; the idle-pipeline hop is
``bench/hops.py``). The load average is printed next to every measurement: on a
shared machine the ratio is depressed by other work, so re-run it on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aegis.config import load_settings  # noqa: E402
from aegis.pipeline.inprocess import extract, local_settings  # noqa: E402
from aegis.pipeline.registry import REGISTRY  # noqa: E402
from bench.cpuacct import CpuMeter, pids_named, tree  # noqa: E402
from tests.harness import CORPUS, ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def corpus_files(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` except READMEs about the corpus itself."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not (p.parent == folder and p.name == "README.md"))


def in_process(paths: list[Path]) -> tuple[float, dict[str, int], float]:
    """``aegis extract`` over every file, one after the other, in this process (wall and CPU seconds)."""
    outcomes: dict[str, int] = {}
    with local_settings(load_settings({})) as settings:
        started = time.perf_counter()
        cpu = time.process_time()
        for path in paths:
            status = extract(settings, path)["status"]
            outcomes[status] = outcomes.get(status, 0) + 1
        return time.perf_counter() - started, outcomes, time.process_time() - cpu


def cpu_meter(stack: Stack, database_url: str) -> CpuMeter:
    """Who spends the CPU: each stage worker (main process and pool children), the gateway,
    this database's PostgreSQL backends, every postgres process (shared with whatever else
    runs), redis-server (shared too) and this client."""
    database = " " + database_url.rsplit("/", 1)[1].split("?")[0] + " "
    components: dict[str, Callable[[], list[int]]] = {}
    for name in REGISTRY.names:
        components[name] = lambda name=name: tree(stack.procs[f"worker-{name}"].pid)
    components["gateway"] = lambda: tree(stack.procs["gateway"].pid)
    components["postgres (this db)"] = lambda: pids_named("postgres", database)
    components["postgres (all)"] = lambda: pids_named("postgres")
    components["redis-server"] = lambda: pids_named("redis-server")
    components["bench client"] = lambda: [os.getpid()]
    return CpuMeter(components)


def through_pipeline(
    paths: list[Path], concurrency: int, clients: int, env: dict[str, str], per_stage: dict[str, int]
) -> tuple[float, dict[str, int], Any]:
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    import redis

    with postgres_database() as database_url:
        stack = Stack(database_url, redis_url, **{"AEGIS_LOG_LEVEL": "WARNING", **env})
        try:
            stack.migrate()
            stack.start_gateway()
            for stage in REGISTRY.names:
                stack.start_worker(stage, per_stage.get(stage, concurrency))
            api = ApiClient(stack.url, stack.create_tenant("bench"))
            meter = cpu_meter(stack, database_url)
            meter.start()
            started = time.perf_counter()
            latencies: list[float] = []

            def upload(path: Path) -> Any:
                sent = time.perf_counter()
                response = api.upload(path)
                latencies.append(time.perf_counter() - sent)
                return response

            with ThreadPoolExecutor(clients) as pool:
                ids = [r.json()["id"] for r in pool.map(upload, paths)]
            print(f"uploads accepted in {time.perf_counter() - started:.1f} s ({clients} clients, median "
                  f"{statistics.median(latencies) * 1000:.0f} ms per upload)")
            outcomes: dict[str, int] = {}
            for i, doc_id in enumerate(ids, 1):
                status = api.wait(doc_id, timeout=1800)["status"]
                outcomes[status] = outcomes.get(status, 0) + 1
                print(f"\r  pipeline: {i}/{len(ids)} documents ended", end="", file=sys.stderr)
            print(file=sys.stderr)
            elapsed = time.perf_counter() - started
            cpu = meter.stop()
            return elapsed, outcomes, stage_report(stack.settings(), set(ids)) + cpu_report(cpu)
        finally:
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()


def cpu_report(cpu: dict[str, float]) -> list[str]:
    """CPU seconds per component over the pipeline phase, and the stack's total."""
    ours = sum(v for k, v in cpu.items() if k not in ("postgres (all)", "bench client"))
    return [
        "cpu seconds (utime+stime) over the pipeline phase: "
        + "  ".join(f"{name} {seconds:.2f}" for name, seconds in cpu.items()),
        f"cpu seconds, stage workers + gateway + this db's backends + redis: {ours:.2f}",
    ]


def stage_report(settings: Any, ids: set[str]) -> list[str]:
    """Busy seconds per stage and the hops between stages, from the stage_runs rows."""
    from sqlalchemy import select

    from aegis.persistence.db import session_scope
    from aegis.persistence.models import StageRun, as_utc

    busy: dict[str, float] = {}
    hops: list[float] = []
    with session_scope(settings) as session:
        runs = session.scalars(select(StageRun).where(StageRun.document_id.in_(ids))).all()
        by_doc: dict[str, dict[str, StageRun]] = {}
        for run in runs:
            by_doc.setdefault(run.document_id, {})[run.stage] = run
            if run.started_at and run.finished_at:
                busy[run.stage] = busy.get(run.stage, 0.0) + (
                    as_utc(run.finished_at) - as_utc(run.started_at)).total_seconds()
        for stages in by_doc.values():
            previous = None
            for name in REGISTRY.names:
                run = stages.get(name)
                if run is None or run.started_at is None:
                    break
                if previous is not None and previous.finished_at is not None:
                    hops.append((as_utc(run.started_at) - as_utc(previous.finished_at)).total_seconds() * 1000)
                previous = run if run.finished_at else None
    lines = ["busy seconds per stage: " + "  ".join(f"{n} {busy.get(n, 0.0):.1f}" for n in REGISTRY.names)]
    # When each stage worked (first start, last end, seconds from the first claim): a stage
    # busy for much less than its span waited for work (upstream, admission, uploads).
    starts = [as_utc(r.started_at) for r in runs if r.started_at]
    if starts:
        origin = min(starts)
        spans = []
        for name in REGISTRY.names:
            mine = [r for r in runs if r.stage == name and r.started_at and r.finished_at]
            if mine:
                first = min(as_utc(r.started_at) for r in mine) - origin
                last = max(as_utc(r.finished_at) for r in mine) - origin
                spans.append(f"{name} {first.total_seconds():.1f}-{last.total_seconds():.1f}")
        lines.append("stage spans (s from the first claim): " + "  ".join(spans))
    if len(hops) >= 2:
        q = statistics.quantiles(hops, n=20)
        lines.append(f"hops under load: n={len(hops)} median {statistics.median(hops):.1f} ms  p95 {q[18]:.1f} ms")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="folder of files, read recursively (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=1, help="processes per stage worker")
    parser.add_argument("--stage-concurrency", action="append", default=[], metavar="STAGE=N",
                        help="processes of one stage's worker instead of --concurrency, e.g. ai=2 (repeatable)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent uploading clients")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the stack's processes, e.g. AEGIS_TASK_EVENTS=0 (repeatable)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    per_stage = {name: int(n) for name, n in (item.split("=", 1) for item in args.stage_concurrency)}
    paths = corpus_files(args.corpus)
    print(f"{len(paths)} files from {args.corpus}")
    print(f"before baseline: {load()}")
    base_seconds, base_outcomes, base_cpu = in_process(paths)
    print(f"before pipeline: {load()}")
    pipe_seconds, pipe_outcomes, report = through_pipeline(paths, args.concurrency, args.clients, env, per_stage)
    print(f"after pipeline:  {load()}")
    base_rate = len(paths) / base_seconds
    pipe_rate = len(paths) / pipe_seconds
    print(f"in one process (aegis extract): {base_seconds:7.2f} s  {base_rate:6.2f} docs/s  {base_outcomes}"
          f"  (cpu {base_cpu:.2f} s)")
    topology = ", ".join(f"{n} x {per_stage.get(n, args.concurrency)}" for n in REGISTRY.names)
    print(f"pipeline ({topology}): {pipe_seconds:7.2f} s  {pipe_rate:6.2f} docs/s  {pipe_outcomes}")
    for line in report:
        print(line)
    print(f"ratio pipeline/baseline: {pipe_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
