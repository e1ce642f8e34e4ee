"""Hop overhead: how long a document waits between one stage ending and the next starting.

One small document at a time through an idle stack (PostgreSQL, Redis, the
gateway, one Celery worker per stage queue), so there is no queueing: each hop
(a stage's ``started_at`` minus the previous stage's ``finished_at``, from
``GET /v1/documents/<id>``) is what the handoff itself costs: the finishing
transaction's commit, the next message's publish, the next worker's pick-up and
its claim transaction.

    .venv/bin/python bench/hops.py [--documents 40]

Target: median at most 5 ms. Prints the load average next to the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402


def hops_of(document: dict[str, object]) -> list[tuple[str, float]]:
    """(stage, ms) for every stage that started after the one before it finished."""
    stages = document["stages"]
    assert isinstance(stages, dict)
    out: list[tuple[str, float]] = []
    previous = None
    for name, run in stages.items():
        if previous and previous.get("finished_at") and run.get("started_at"):
            gap = datetime.fromisoformat(run["started_at"]) - datetime.fromisoformat(previous["finished_at"])
            out.append((name, gap.total_seconds() * 1000))
        previous = run if run.get("started_at") else None
    return out


def span_of(document: dict[str, object]) -> float | None:
    """ms from the first stage's start to the last stage's end: every hop plus the (tiny) stages' work.

    A check on the hops that does not depend on where in the claim and finish the
    runner takes its ``started_at`` and ``finished_at``.
    """
    stages = document["stages"]
    assert isinstance(stages, dict)
    starts = [run["started_at"] for run in stages.values() if run.get("started_at")]
    ends = [run["finished_at"] for run in stages.values() if run.get("finished_at")]
    if not starts or not ends:
        return None
    gap = datetime.fromisoformat(max(ends)) - datetime.fromisoformat(min(starts))
    return gap.total_seconds() * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the stack's processes, e.g. AEGIS_TASK_EVENTS=0 (repeatable)")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    import redis

    hops: list[tuple[str, float]] = []
    spans: list[float] = []
    with postgres_database() as database_url:
        stack = Stack(database_url, redis_url, **{"AEGIS_LOG_LEVEL": "WARNING", **env})
        try:
            stack.migrate()
            stack.start_gateway()
            stack.start_workers()
            api = ApiClient(stack.url, stack.create_tenant("bench"))
            print("load average {:.2f} {:.2f} {:.2f} (before)".format(*os.getloadavg()))
            for n in range(args.documents + 1):
                body = f"Hop probe {uuid.uuid4()}. A short text document, one page.\n".encode() * 4
                doc_id = api.upload_bytes(f"hop-{n}.txt", body).json()["id"]
                document = api.wait(doc_id, timeout=120)
                if n:  # the first document warms every worker up (imports, connections)
                    hops.extend(hops_of(document))
                    span = span_of(document)
                    if span is not None:
                        spans.append(span)
            print("load average {:.2f} {:.2f} {:.2f} (after)".format(*os.getloadavg()))
        finally:
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()
    values = [ms for _, ms in hops]
    by_stage: dict[str, list[float]] = {}
    for stage, ms in hops:
        by_stage.setdefault(stage, []).append(ms)
    for stage, ms in by_stage.items():
        print(f"  hop into {stage:9} median {statistics.median(ms):7.1f} ms")
    p95 = statistics.quantiles(values, n=20)[18]
    if spans:
        print(f"first start to last end per document: median {statistics.median(spans):.1f} ms")
    print(f"hops: n={len(values)} median {statistics.median(values):.1f} ms  p95 {p95:.1f} ms  (target median <= 5 ms)")


if __name__ == "__main__":
    main()
