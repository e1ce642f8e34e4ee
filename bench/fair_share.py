"""Fair share under a burst: how long one tenant's document takes while another floods the queues.

Starts a real stack (PostgreSQL, Redis, the gunicorn gateway, one Celery worker per
queue), measures a single document of tenant B on the idle installation (the
baseline), then again right after tenant A uploads ``--burst`` documents: once with
the fair-share cap (``AEGIS_TENANT_MAX_IN_FLIGHT``, default 32) and once with A's cap
lifted above its burst, which is how Aegis behaved before admission existed. It
prints B's time in each case and its ratio to the idle time measured in the same run.

It also times admission itself on the same PostgreSQL: one ``admit`` call for a
tenant with ``--burst`` waiting documents, when it admits one document and when the
tenant is at its cap (the common case after every document end).

    .venv/bin/python bench/fair_share.py [--burst 500] [--concurrency 1] [--cap N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from aegis.config import load_settings  # noqa: E402
from aegis.persistence import migrate  # noqa: E402
from aegis.persistence.db import dispose_engines, session_scope  # noqa: E402
from aegis.persistence.models import Tenant  # noqa: E402
from aegis.pipeline import admission  # noqa: E402
from aegis.services.documents import create_document  # noqa: E402
from tests.harness import ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402

FILES_PER_REQUEST = 50


def _set_cap(stack: Stack, name: str, cap: int | None) -> None:
    with session_scope(stack.settings()) as session:
        session.scalars(select(Tenant).where(Tenant.name == name)).one().max_in_flight = cap


def _one(api: ApiClient, label: str) -> float:
    started = time.perf_counter()
    doc = api.upload_bytes(f"{label}.txt", f"{label} {uuid.uuid4().hex}\n".encode()).json()
    api.wait(doc["id"], timeout=1800)
    return time.perf_counter() - started


def _burst(api: ApiClient, n: int) -> None:
    run = uuid.uuid4().hex
    batches = [list(range(i, min(n, i + FILES_PER_REQUEST))) for i in range(0, n, FILES_PER_REQUEST)]

    def send(batch: list[int]) -> None:
        files = [("file", (f"a{i}.txt", f"burst {run} {i}\n".encode())) for i in batch]
        response = api.session.post(api.base + "/v1/documents", files=files, timeout=300)
        response.raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, batches))


def latencies(burst: int, concurrency: int, cap: int | None = None) -> dict[str, float]:
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
                b = ApiClient(stack.url, stack.create_tenant("b"))
                _one(b, "warm-up")
                out["idle"] = statistics.median(_one(b, f"idle{i}") for i in range(3))
                previous: str | None = None
                for label, a_cap in (("fair share", cap), ("no cap", burst + 1)):
                    if previous is not None:
                        _drain(stack, previous)
                    name = f"a-{label.replace(' ', '-')}"
                    a = ApiClient(stack.url, stack.create_tenant(name))
                    _set_cap(stack, name, a_cap)
                    _burst(a, burst)
                    out[label] = _one(b, label.replace(" ", "-"))
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


def admission_cost(waiting: int, calls: int = 200) -> tuple[float, float, float]:
    """Milliseconds per ``admit`` call: admitting one document, at the cap (admits none), and
    the baseline: a transaction that only locks the tenant row."""
    with postgres_database() as url:
        settings = load_settings({"AEGIS_DATABASE_URL": url, "AEGIS_TENANT_MAX_IN_FLIGHT": "1"})
        migrate.upgrade(settings)
        try:
            with session_scope(settings) as session:
                tenant = Tenant(name="bench", max_in_flight=0)
                session.add(tenant)
                session.flush()
                tenant_id = tenant.id
                for i in range(waiting + calls):
                    create_document(session, tenant_id, f"{i}.txt", uuid.uuid4().hex * 2, 1, admitted=False)
            one: list[float] = []
            for i in range(calls):
                with session_scope(settings) as session:
                    session.get(Tenant, tenant_id).max_in_flight = i + 1  # type: ignore[union-attr]
                started = time.perf_counter()
                with session_scope(settings) as session:
                    assert len(admission.admit(session, settings, [tenant_id])) == 1
                one.append(time.perf_counter() - started)
            # The baseline: the cheapest write transaction on the same connection pool.
            empty: list[float] = []
            for _ in range(calls):
                started = time.perf_counter()
                with session_scope(settings) as session:
                    session.scalars(select(Tenant).where(Tenant.id == tenant_id).with_for_update()).one()
                empty.append(time.perf_counter() - started)
            none: list[float] = []
            for _ in range(calls):
                started = time.perf_counter()
                with session_scope(settings) as session:
                    assert admission.admit(session, settings, [tenant_id]) == []
                none.append(time.perf_counter() - started)
        finally:
            dispose_engines()
    return tuple(statistics.median(x) * 1000 for x in (one, none, empty))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=500, help="Documents tenant A uploads at once.")
    parser.add_argument("--concurrency", type=int, default=1, help="Processes per stage worker.")
    parser.add_argument("--cap", type=int, default=None,
                        help="Tenant A's own max_in_flight (default: AEGIS_TENANT_MAX_IN_FLIGHT, 32).")
    parser.add_argument("--skip-pipeline", action="store_true", help="Only time admission.")
    args = parser.parse_args()
    one_ms, none_ms, empty_ms = admission_cost(args.burst)
    print(f"admission ({args.burst} waiting, PostgreSQL, medians of 200 transactions): "
          f"{one_ms:.2f} ms admitting one document = {one_ms / empty_ms:.2f}x, {none_ms:.2f} ms at the cap = "
          f"{none_ms / empty_ms:.2f}x a transaction that only locks the tenant row ({empty_ms:.2f} ms, baseline)")
    if args.skip_pipeline:
        return
    times = latencies(args.burst, args.concurrency, args.cap)
    idle = times["idle"]
    print(f"tenant B, one document, idle installation: {idle:.2f} s (baseline)")
    for label in ("fair share", "no cap"):
        cap = f" (A's cap {args.cap or 'default'})" if label == "fair share" else ""
        print(f"tenant B after tenant A uploaded {args.burst}, {label}{cap}: {times[label]:.2f} s "
              f"= {times[label] / idle:.2f}x idle")


if __name__ == "__main__":
    main()
