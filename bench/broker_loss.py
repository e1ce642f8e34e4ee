"""Recovery time after the broker comes back empty, with and without the epoch marker.

A real stack (PostgreSQL, the gateway, one worker per stage, beat) on a broker this
benchmark owns: a test-owned ``redis-server`` or a RabbitMQ vhost of its own. Twenty
documents are uploaded, the broker is restarted empty at once (Redis: killed and
started on an empty disk; RabbitMQ: the vhost deleted and created again), and the
clock runs until every in-flight document moves again and until all have succeeded.
The baseline, measured in the same run, turns the marker off
(``AEGIS_BROKER_LOSS_CHECK=0``): recovery then waits for each stage's time limit.
Default settings throughout (``AEGIS_RECONCILE_INTERVAL`` 30 s, the stage limits).

    .venv/bin/python bench/broker_loss.py [--broker redis|rabbitmq] [--documents 20]

On RabbitMQ, ``rabbitmqctl`` takes seconds to delete and re-create the vhost, and
documents keep moving until the deletion, so "moving again" reads 0 there: compare
the "all succeeded" times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from aegis.persistence.db import session_scope  # noqa: E402
from aegis.persistence.models import Document, as_utc, utcnow  # noqa: E402
from tests.harness import (  # noqa: E402
    TERMINAL,
    ApiClient,
    RabbitBroker,
    RedisBroker,
    Stack,
    postgres_database,
    wait_for,
)


def _rows(stack: Stack) -> list[tuple[str, object]]:
    with session_scope(stack.settings()) as session:
        return [(s, p) for s, p in session.execute(select(Document.status, Document.progress_at)).all()]


def scenario(broker_name: str, check: bool, documents: int) -> tuple[int, float, float]:
    """In flight at the loss, seconds until all move again, seconds until all succeeded."""
    broker = RedisBroker() if broker_name == "redis" else RabbitBroker()
    try:
        with postgres_database() as database_url:
            stack = Stack(database_url, broker.url, AEGIS_BROKER_LOSS_CHECK="1" if check else "0")
            try:
                stack.migrate()
                stack.start_gateway()
                stack.start_beat()
                stack.start_workers()
                api = ApiClient(stack.url, stack.create_tenant("bench"))
                time.sleep(35)  # one reconcile interval: the marker is written
                text = "Paragraph about brokers and recovery. " * 60
                ids = [api.upload_bytes(f"n{i}.txt", f"{i}\n{text}".encode()).json()["id"] for i in range(documents)]
                in_flight = sum(1 for s, _ in _rows(stack) if s not in TERMINAL)
                lost_at = utcnow()
                broker.restart_empty()
                back = time.monotonic()
                wait_for(lambda: all(s in TERMINAL or as_utc(p) > lost_at for s, p in _rows(stack)),  # type: ignore[arg-type]
                         1800, interval=0.5, message="all moving")
                moving = time.monotonic() - back
                for doc_id in ids:
                    assert api.wait(doc_id, timeout=1800)["status"] == "succeeded"
                return in_flight, moving, time.monotonic() - back
            finally:
                stack.close()
    finally:
        broker.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("redis", "rabbitmq"), default="redis")
    parser.add_argument("--documents", type=int, default=20)
    args = parser.parse_args()
    base = scenario(args.broker, False, args.documents)
    print(f"{args.broker} baseline (time limits only): {base[0]} in flight, all moving again after {base[1]:.1f} s, "
          f"all succeeded after {base[2]:.1f} s", flush=True)
    new = scenario(args.broker, True, args.documents)
    print(f"{args.broker} epoch marker:                {new[0]} in flight, all moving again after {new[1]:.1f} s, "
          f"all succeeded after {new[2]:.1f} s", flush=True)
    print(f"{args.broker} recovery ratio (baseline / marker, all succeeded): {base[2] / new[2]:.1f}x")


if __name__ == "__main__":
    main()
