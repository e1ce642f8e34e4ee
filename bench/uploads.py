"""Small uploads: how many 1 KB documents per second the gateway accepts, and its memory.

Starts the gateway as deployed (gunicorn, its default settings) on a fresh
PostgreSQL database and Redis db, with no workers (accepting is the gateway's
job; the chain messages wait in Redis and are dropped afterwards). ``--clients``
threads each upload distinct 1 KB text files over a keep-alive connection; the
rate counts 202 answers only. The gateway's RSS (arbiter plus workers) is read
from /proc before and after.

    .venv/bin/python bench/uploads.py [--clients 8] [--uploads 2000] [--workers N]

Target: at least 250 accepted per second with 8 clients, memory flat.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import ApiClient, Stack, pick_redis_db, postgres_database  # noqa: E402


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children, in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of ``pid`` and its children so far, in seconds.

    The rate depends on what else runs on the machine; the gateway's CPU per upload
    much less, so both are printed.
    """
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    ticks = 0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def upload_all(api_key: str, url: str, clients: int, uploads: int) -> tuple[float, dict[int, int]]:
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per_client = uploads // clients

    def client() -> None:
        api = ApiClient(url, api_key)
        seen: dict[int, int] = {}
        for n in range(per_client):
            body = (f"{uuid.uuid4()} small upload {n}\n" * 40).encode()[:1024]
            status = api.upload_bytes(f"small-{n}.txt", body).status_code
            seen[status] = seen.get(status, 0) + 1
        with lock:
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=None,
                        help="gateway processes (default: the gateway's default, web/gunicorn_conf.py)")
    args = parser.parse_args()
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    import redis

    with postgres_database() as database_url:
        stack = Stack(database_url, redis_url, AEGIS_LOG_LEVEL="WARNING")
        try:
            stack.migrate()
            stack.start_gateway(workers=args.workers)
            key = stack.create_tenant("bench")
            pid = stack.procs["gateway"].pid
            workers = len(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
            upload_all(key, stack.url, args.clients, 200)  # warm up: imports, pools, connections
            before = rss_mb(pid)
            cpu_before = cpu_seconds(pid)
            print("load average {:.2f} {:.2f} {:.2f} (before)".format(*os.getloadavg()))
            seconds, statuses = upload_all(key, stack.url, args.clients, args.uploads)
            print("load average {:.2f} {:.2f} {:.2f} (after)".format(*os.getloadavg()))
            after = rss_mb(pid)
            cpu = cpu_seconds(pid) - cpu_before
        finally:
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()
    accepted = statuses.get(202, 0)
    print(f"answers: {dict(sorted(statuses.items()))}")
    print(f"gateway RSS: {before:.1f} MB before, {after:.1f} MB after ({after - before:+.1f} MB)")
    print(f"gateway CPU: {1000 * cpu / max(1, sum(statuses.values())):.2f} ms per upload ({cpu:.1f} s)")
    print(f"small uploads: {accepted / seconds:.1f} accepted/s with {args.clients} clients, "
          f"{workers} gateway process(es) "
          f"({accepted} in {seconds:.2f} s; target >= 250/s)")


if __name__ == "__main__":
    main()
