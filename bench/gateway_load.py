"""Tenant B's latency while tenant A holds 200 event streams and 50 trickling uploads.

The integration test (tests/integration/test_gateway_load.py) checks the order and the
outcome: B is answered before any of A's trickles is cut off, and nothing fails. How
fast B is answered is a speed target, measured here against a baseline from the same
run: the same rounds of B's ``/health``, list and upload on the same gateway process
with A idle, then with A's connections held open.

    .venv/bin/python bench/gateway_load.py [--rounds 25]

Target: B's p99 under A's load below 500 ms (the gateway is one gevent worker process).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.harness import ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402
from tests.integration.test_gateway_load import (  # noqa: E402
    STREAMS,
    TRICKLES,
    Trickler,
    _open_stream,
    _p99,
    _parked_document,
    _tenant_id,
)


def rounds(url: str, quiet: ApiClient, count: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {"health": [], "list": [], "upload": []}
    for n in range(count):
        for name in timings:
            started = time.perf_counter()
            if name == "health":
                response = requests.get(url + "/health", timeout=30)
            elif name == "list":
                response = quiet.get("/v1/documents")
            else:
                response = quiet.upload_bytes(f"quiet-{n}.txt", f"quiet {n} {uuid.uuid4()}".encode())
            timings[name].append(time.perf_counter() - started)
            response.raise_for_status()
        time.sleep(0.2)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=25)
    args = parser.parse_args()
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    import redis

    with postgres_database() as database_url:
        # No workers: B's uploads only need the gateway; their messages are dropped afterwards.
        stack = Stack(database_url, redis_url, AEGIS_LOG_LEVEL="WARNING",
                      AEGIS_MAX_STREAMS_PER_TENANT=str(STREAMS), AEGIS_BODY_TIMEOUT="20")
        streams: list[socket.socket] = []
        trickler: Trickler | None = None
        try:
            stack.migrate()
            url = stack.start_gateway()
            noisy_key = stack.create_tenant("noisy")
            parked = _parked_document(stack, _tenant_id(stack, noisy_key))
            quiet = ApiClient(url, stack.create_tenant("quiet"))
            rounds(url, quiet, 5)  # warm up: imports, pools, connections
            print("load average {:.2f} {:.2f} {:.2f} (idle run)".format(*os.getloadavg()))
            idle = rounds(url, quiet, args.rounds)
            for _ in range(STREAMS):
                streams.append(_open_stream(url, noisy_key, parked)[0])
            trickler = Trickler(url, noisy_key, TRICKLES)
            print("load average {:.2f} {:.2f} {:.2f} (loaded run)".format(*os.getloadavg()))
            loaded = rounds(url, quiet, args.rounds)
            cut_off = trickler.answered()
        finally:
            if trickler is not None:
                trickler.close()
            for sock in streams:
                sock.close()
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()
    print(f"A: {STREAMS} streams and {TRICKLES} trickling uploads; {cut_off} trickles cut off during B's rounds")
    for name in idle:
        base, under = _p99(idle[name]), _p99(loaded[name])
        print(f"B {name:6s} p99: idle {base * 1000:7.1f} ms, under A's load {under * 1000:7.1f} ms, "
              f"ratio {under / base:5.2f} (target under load < 500 ms)")


if __name__ == "__main__":
    main()
