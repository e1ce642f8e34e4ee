"""Fair share under a burst: how long one tenant's document takes while another floods the queues.

Starts a real stack (PostgreSQL, Redis, the gunicorn gateway, one Celery worker per
queue), measures a single document of tenant B on the idle installation (the
baseline), then again right after tenant A uploads ``--burst`` documents: once with
the default fair share (the installation's bound ``AEGIS_PIPELINE_SLOTS``, default one
per stage worker process, and A's cap, default the same) and once with both lifted
above A's burst (the gateway and workers restarted with the larger bound), which is
how Aegis behaved before admission existed. It prints B's time in each case and its
ratio to the idle time measured in the same run.

It also times admission itself on the same PostgreSQL: one ``admit`` call for a
tenant with ``--burst`` waiting documents, when it admits one document, when the
tenant is at its cap (the common case after every upload during a burst) and when
nothing waits (every document end and reconciler tick on a quiet installation);
then the upload's transaction (insert a waiting document, admit) from 8 threads at
once while another thread ends documents, with and without the admission in it.

    .venv/bin/python bench/fair_share.py [--burst 500] [--concurrency 1] [--cap N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select, update  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from aegis.config import load_settings  # noqa: E402
from aegis.persistence import migrate  # noqa: E402
from aegis.persistence.db import dispose_engines, session_scope  # noqa: E402
from aegis.persistence.models import Document, Tenant  # noqa: E402
from aegis.pipeline import admission  # noqa: E402
from aegis.services.documents import intake  # noqa: E402
from tests.harness import ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402

FILES_PER_REQUEST = 50


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def _set_cap(stack: Stack, name: str, cap: int | None) -> None:
    with session_scope(stack.settings()) as session:
        session.scalars(select(Tenant).where(Tenant.name == name)).one().max_in_flight = cap


#: Where each of B's documents spent its time, by scenario: "stage wait+run" per stage.
BREAKDOWN: dict[str, list[str]] = {}


def _one(api: ApiClient, label: str, scenario: str = "") -> float:
    """Seconds from B's upload being accepted to the end of its last stage.

    Read from the document's own timestamps, not from polling: a poll every quarter
    second would be a large part of an idle document's half second.
    """
    doc = api.upload_bytes(f"{label}.txt", f"{label} {uuid.uuid4().hex}\n".encode()).json()
    done = api.wait(doc["id"], timeout=1800)
    ended = max(datetime.fromisoformat(s["finished_at"]) for s in done["stages"].values() if s["finished_at"])
    if scenario:
        BREAKDOWN.setdefault(scenario, []).append(_breakdown(done))
    return (ended - datetime.fromisoformat(done["created_at"])).total_seconds()


def _breakdown(done: dict[str, Any]) -> str:
    """Per stage, milliseconds waiting in its queue (since the previous stage ended) + running."""
    previous = datetime.fromisoformat(done["created_at"])
    parts = []
    for name, run in done["stages"].items():
        if not run["started_at"] or not run["finished_at"]:
            continue
        started, finished = datetime.fromisoformat(run["started_at"]), datetime.fromisoformat(run["finished_at"])
        wait, took = (started - previous).total_seconds() * 1000, (finished - started).total_seconds() * 1000
        parts.append(f"{name} {wait:.0f}+{took:.0f}")
        previous = finished
    return ", ".join(parts)


def _burst(api: ApiClient, n: int) -> None:
    run = uuid.uuid4().hex
    batches = [list(range(i, min(n, i + FILES_PER_REQUEST))) for i in range(0, n, FILES_PER_REQUEST)]

    def send(batch: list[int]) -> None:
        files = [("file", (f"a{i}.txt", f"burst {run} {i}\n".encode())) for i in batch]
        response = api.session.post(api.base + "/v1/documents", files=files, timeout=300)
        response.raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, batches))


def latencies(burst: int, concurrency: int, cap: int | None = None, no_cap: bool = True) -> dict[str, float]:
    import redis

    index = pick_redis_db()
    out: dict[str, float] = {}
    try:
        with postgres_database() as database_url:
            stack = Stack(database_url, f"redis://127.0.0.1:6379/{index}", AEGIS_LOG_LEVEL="WARNING")
            try:
                stack.migrate()
                stack.start_gateway()
                stack.start_workers(concurrency)
                b_key = stack.create_tenant("b")
                b = ApiClient(stack.url, b_key)
                _one(b, "warm-up")
                out["idle"] = statistics.median(_one(b, f"idle{i}", "idle") for i in range(5))
                previous: str | None = None
                scenarios = (("fair share", cap), ("no cap", burst + 1)) if no_cap else (("fair share", cap),)
                for label, a_cap in scenarios:
                    if previous is not None:
                        _drain(stack, previous)
                        # Before admission existed: nothing bounds the queues.
                        for proc in list(stack.procs):
                            stack.stop(proc)
                        stack.env["AEGIS_PIPELINE_SLOTS"] = str(burst + 1)
                        stack.start_gateway()
                        stack.start_workers(concurrency)
                        b = ApiClient(stack.url, b_key)
                    name = f"a-{label.replace(' ', '-')}"
                    a = ApiClient(stack.url, stack.create_tenant(name))
                    _set_cap(stack, name, a_cap)
                    _burst(a, burst)
                    # With fair share A's burst lasts far longer than B's documents: the median
                    # of three in a row, each behind A. Without it the first waits behind all of A.
                    rounds = 3 if label == "fair share" else 1
                    slug = label.replace(" ", "-")
                    out[label] = statistics.median(_one(b, f"{slug}{i}", label) for i in range(rounds))
                    # A's documents go on in the background; its cap is lowered to 1 so the
                    # next scenario starts from (nearly) empty queues.
                    _set_cap(stack, name, 1)
                    with session_scope(stack.settings()) as session:
                        previous = session.scalars(select(Tenant.id).where(Tenant.name == name)).one()
            finally:
                stack.close()
    finally:
        redis.Redis(host="127.0.0.1", port=6379, db=index).flushdb()
    return out


def _drain(stack: Stack, tenant_id: str) -> None:
    """Wait until A has nothing in flight (its waiting documents stay waiting)."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        with session_scope(stack.settings()) as session:
            if admission.in_flight(session, tenant_id) <= 1:
                return
        time.sleep(1)


def admission_cost(waiting: int, calls: int = 200) -> dict[str, float]:
    """Milliseconds per ``admit`` call: admitting one document, at the cap (admits none),
    with nothing waiting, and the baseline: a transaction that only locks the tenant row."""
    out: dict[str, float] = {}
    with postgres_database() as url:
        # The installation's bound out of the way: only the tenant's cap decides here.
        settings = load_settings({"AEGIS_DATABASE_URL": url, "AEGIS_TENANT_MAX_IN_FLIGHT": "1",
                                  "AEGIS_PIPELINE_SLOTS": str(waiting + calls + 1)})
        migrate.upgrade(settings)
        try:
            with session_scope(settings) as session:
                tenant = Tenant(name="bench", max_in_flight=0)
                session.add(tenant)
                session.flush()
                tenant_id = tenant.id
                for i in range(waiting + calls):
                    intake(session, tenant_id, f"{i}.txt", uuid.uuid4().hex * 2, 1, admitted=False)
            one: list[float] = []
            for i in range(calls):
                with session_scope(settings) as session:
                    session.get(Tenant, tenant_id).max_in_flight = i + 1  # type: ignore[union-attr]
                started = time.perf_counter()
                with session_scope(settings) as session:
                    assert len(admission.admit(session, settings, [tenant_id])) == 1
                one.append(time.perf_counter() - started)
            out["one"] = _median_ms(one)
            # The baseline: the cheapest write transaction on the same connection pool.
            out["empty"] = _median_ms(_timed(calls, lambda session: session.scalars(
                select(Tenant).where(Tenant.id == tenant_id).with_for_update()).one(), settings))
            out["none"] = _median_ms(
                _timed(calls, lambda session: _admits(session, settings, [tenant_id], 0), settings))
            with session_scope(settings) as session:
                session.execute(update(Document).where(Document.admitted_at.is_(None)).values(status="succeeded"))
            out["idle"] = _median_ms(_timed(calls, lambda session: _admits(session, settings, None, 0), settings))
            out.update(_upload_cost(settings, calls))
        finally:
            dispose_engines()
    return out


def _admits(session: Session, settings: Any, tenant_ids: list[str] | None, n: int) -> None:
    assert len(admission.admit(session, settings, tenant_ids)) == n


def _timed(calls: int, work: Callable[[Session], object], settings: Any) -> list[float]:
    times: list[float] = []
    for _ in range(calls):
        started = time.perf_counter()
        with session_scope(settings) as session:
            work(session)
        times.append(time.perf_counter() - started)
    return times


def _median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def _upload_cost(base: Any, calls: int, threads: int = 8) -> dict[str, float]:
    """The gateway's upload transaction under contention: 8 threads insert a waiting
    document of one tenant (cap 5, 500 waiting) and admit it, as the upload does, while a
    ninth thread ends an in-flight document and runs the after-end pass, as the workers do."""
    from dataclasses import replace

    settings = replace(base, tenant_max_in_flight=5)
    with session_scope(settings) as session:
        tenant = Tenant(name=f"burst-{uuid.uuid4().hex[:8]}")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
        for i in range(500):
            intake(session, tenant_id, f"w{i}.txt", uuid.uuid4().hex * 2, 1, admitted=False)
    with session_scope(settings) as session:
        admission.admit(session, settings)
    result: dict[str, float] = {}
    deferred: list[int] = []
    for label, with_admission in (("upload", False), ("upload+admit", True)):
        times = _contended(settings, tenant_id, calls, threads, with_admission, deferred)
        result[label] = _median_ms(times)
        result[label + " p95"] = statistics.quantiles(times, n=20)[-1] * 1000
    result["deferred"] = len(deferred)
    return result


def _contended(
    settings: Any, tenant_id: str, calls: int, threads: int, with_admission: bool, deferred: list[int],
) -> list[float]:
    stop = threading.Event()

    def ender() -> None:
        while not stop.is_set():
            with session_scope(settings) as session:
                doc = session.scalars(select(Document).where(
                    Document.tenant_id == tenant_id, Document.admitted_at.is_not(None),
                    Document.status == "queued").limit(1).with_for_update(skip_locked=True)).first()
                if doc is not None:
                    doc.status = "succeeded"
            with session_scope(settings) as session:
                admission.admit(session, settings)

    def uploader(worker: int) -> list[float]:
        times = []
        for i in range(calls // threads):
            started = time.perf_counter()
            with session_scope(settings) as session:
                intake(session, tenant_id, f"{with_admission}-{worker}-{i}.txt", uuid.uuid4().hex * 2, 1,
                       admitted=False)
                if with_admission:
                    # As the gateway does: a lock error defers the admission to the reconciler.
                    try:
                        with session.begin_nested():
                            admission.admit(session, settings, [tenant_id])
                    except OperationalError:
                        deferred.append(1)
            times.append(time.perf_counter() - started)
        return times

    background = threading.Thread(target=ender)
    background.start()
    try:
        with ThreadPoolExecutor(threads) as pool:
            return [t for chunk in pool.map(uploader, range(threads)) for t in chunk]
    finally:
        stop.set()
        background.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=500, help="Documents tenant A uploads at once.")
    parser.add_argument("--concurrency", type=int, default=1, help="Processes per stage worker.")
    parser.add_argument("--cap", type=int, default=None,
                        help="Tenant A's own max_in_flight (default: AEGIS_TENANT_MAX_IN_FLIGHT, "
                             "the installation's slots).")
    parser.add_argument("--skip-pipeline", action="store_true", help="Only time admission.")
    parser.add_argument("--skip-admission", action="store_true", help="Only the pipeline latencies.")
    parser.add_argument("--skip-no-cap", action="store_true",
                        help="Leave out the no-cap scenario (the slow one, unchanged by fair share).")
    args = parser.parse_args()
    print(load())
    if not args.skip_admission:
        print_admission_cost(args.burst)
    if args.skip_pipeline:
        return
    times = latencies(args.burst, args.concurrency, args.cap, not args.skip_no_cap)
    idle = times["idle"]
    print(f"tenant B, one document, idle installation: {idle:.3f} s (baseline; upload accepted to last stage end)")
    for label in ("fair share", "no cap"):
        if label not in times:
            continue
        cap = f" (A's cap {args.cap or 'default'})" if label == "fair share" else ""
        print(f"tenant B after tenant A uploaded {args.burst}, {label}{cap}: {times[label]:.3f} s "
              f"= {times[label] / idle:.2f}x idle")
    for label, lines in BREAKDOWN.items():
        for line in lines:
            print(f"  B {label}, ms queue wait+run: {line}")
    print(load())


def print_admission_cost(burst: int) -> None:
    c = admission_cost(burst)
    empty = c["empty"]
    print(f"admission ({burst} waiting, PostgreSQL, medians of 200 transactions): "
          f"{c['one']:.2f} ms admitting one document = {c['one'] / empty:.2f}x, {c['none']:.2f} ms at the cap = "
          f"{c['none'] / empty:.2f}x, {c['idle']:.2f} ms with nothing waiting = {c['idle'] / empty:.2f}x "
          f"a transaction that only locks the tenant row ({empty:.2f} ms, baseline)")
    print(f"upload transaction, 8 threads + an ender, median (p95): {c['upload+admit']:.2f} ms "
          f"({c['upload+admit p95']:.2f}) with admission, {c['upload']:.2f} ms ({c['upload p95']:.2f}) "
          f"without (baseline): admission adds {c['upload+admit'] - c['upload']:.2f} ms; "
          f"{c['deferred']:.0f} of 200 admissions lost a lock conflict (deferred to the reconciler)")
    print(load())


if __name__ == "__main__":
    main()
