"""Upload throughput and gateway memory for one large file, volume store vs S3 bucket.

Starts the real gunicorn gateway (PostgreSQL, Redis, no workers needed) twice in the
same run: once on the volume store (the baseline) and once on an S3 bucket served by
moto's standalone server in its own process (``moto_server``, installed with the test
extra). Streams one file of ``--mb`` MiB as multipart/form-data without holding it in
this process, samples the gateway's RSS (master and workers) every 50 ms, and prints
MB/s, peak RSS growth, and the S3/volume ratios.

    .venv/bin/python bench/storage_upload.py [--mb 1024]

moto keeps objects in memory: give it about three times the file size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402

from tests.harness import Stack, free_port, pick_redis_db, postgres_database, wait_for  # noqa: E402
from tests.s3server import CREDENTIALS  # noqa: E402

BLOCK = 1024 * 1024


class MultipartBody:
    """A multipart/form-data body generated on the fly, with a known length (no chunked encoding)."""

    def __init__(self, size: int, seed: bytes) -> None:
        self.boundary = uuid.uuid4().hex
        self._head = (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n").encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._size = size
        self._block = (seed * (BLOCK // len(seed) + 1))[:BLOCK]
        self._sent = -1  # -1: the head is next
        self.len = len(self._head) + size + len(self._tail)

    def __len__(self) -> int:
        return self.len

    def read(self, n: int = -1) -> bytes:
        if self._sent < 0:
            self._sent = 0
            return self._head
        if self._sent < self._size:
            chunk = min(BLOCK, self._size - self._sent)
            # The block index is mixed in so the file is not one block repeated (no dedupe anywhere).
            data = self._sent.to_bytes(8, "big") + self._block[8:chunk] if chunk > 8 else self._block[:chunk]
            self._sent += chunk
            return data
        if self._sent == self._size:
            self._sent += 1
            return self._tail
        return b""


def tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def measure(stack: Stack, size: int, label: str) -> dict[str, float]:
    key = stack.create_tenant(f"bench-{label}")
    gateway = stack.procs["gateway"]
    requests.get(stack.url + "/ready", timeout=30)  # warm: imports, pools, first store call
    baseline = tree_rss(gateway.pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(gateway.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    body = MultipartBody(size, os.urandom(64))
    started = time.perf_counter()
    response = requests.post(
        stack.url + "/v1/documents", data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={body.boundary}"},
        timeout=3600,
    )
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if response.status_code != 202:
        raise SystemExit(f"{label}: {response.status_code} {response.text[:500]}")
    return {"seconds": elapsed, "mb_per_s": size / BLOCK / elapsed, "rss_base_mb": baseline / BLOCK,
            "rss_peak_mb": peak / BLOCK, "rss_growth_mb": (peak - baseline) / BLOCK}


def run(database_url: str, redis_url: str, size: int, label: str, **env: str) -> dict[str, float]:
    stack = Stack(database_url, redis_url, AEGIS_MAX_UPLOAD_BYTES=str(size + BLOCK), AEGIS_LOG_LEVEL="WARNING", **env)
    try:
        stack.start_gateway()
        return measure(stack, size, label)
    finally:
        stack.close()


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(endpoint, timeout=2).status_code < 500
        except requests.RequestException:
            return False

    wait_for(up, 30, message="moto_server")
    return proc, endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB")
    args = parser.parse_args()
    size = args.mb * BLOCK
    import boto3

    moto, endpoint = start_moto()
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    try:
        client = boto3.session.Session(
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="aegis-bench")
        with postgres_database() as database_url:
            schema = Stack(database_url, redis_url)
            schema.migrate()
            schema.close()
            volume = run(database_url, redis_url, size, "volume")
            s3 = run(database_url, redis_url, size, "s3", **CREDENTIALS, AEGIS_STORAGE_URL="s3://aegis-bench/bench",
                     AEGIS_S3_ENDPOINT_URL=endpoint, AEGIS_S3_ADDRESSING_STYLE="path")
            keys = [o["Key"] for o in client.list_objects_v2(Bucket="aegis-bench").get("Contents", [])]
            uploads = client.list_multipart_uploads(Bucket="aegis-bench").get("Uploads", [])
    finally:
        os.killpg(moto.pid, signal.SIGTERM)
        moto.wait(30)
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    for label, result in (("volume", volume), ("s3", s3)):
        print(f"{label:6}  {args.mb} MiB in {result['seconds']:.1f} s  {result['mb_per_s']:.1f} MiB/s  "
              f"gateway RSS {result['rss_base_mb']:.0f} -> peak {result['rss_peak_mb']:.0f} MiB "
              f"(+{result['rss_growth_mb']:.0f} MiB)")
    print(f"s3/volume throughput ratio: {s3['mb_per_s'] / volume['mb_per_s']:.2f}  "
          f"RSS growth: s3 +{s3['rss_growth_mb']:.0f} MiB vs volume +{volume['rss_growth_mb']:.0f} MiB")
    print(f"bucket after the run: {len(keys)} object(s) {keys}, {len(uploads)} incomplete multipart upload(s)")


if __name__ == "__main__":
    main()
