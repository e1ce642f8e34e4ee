"""A real Aegis stack for tests and benchmarks: a PostgreSQL database of its own, a
Redis db index of its own, and real ``celery worker`` processes, one per queue.

Nothing here is mocked: the processes are the same commands production runs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from aegis.cli.devserver import gateway_argv
from aegis.pipeline.registry import STAGES
from tests.corpus import CORPUS as CORPUS_ROOT

ROOT = Path(__file__).resolve().parent.parent
CORPUS = CORPUS_ROOT
PG_ADMIN = os.environ.get("AEGIS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_HOST = os.environ.get("AEGIS_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("AEGIS_TEST_REDIS_PORT", "6379"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database, dropped afterwards (with any connections still open to it)."""
    name = f"aegis_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def postgres_sessions() -> Iterator[Any]:
    """A sessionmaker on a fresh database holding the models' tables (no migrations), dropped afterwards."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from aegis.persistence.models import Base

    with postgres_database() as url:
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            Base.metadata.create_all(engine)
            yield sessionmaker(engine, expire_on_commit=False)
        finally:
            engine.dispose()


def pick_redis_db(host: str = REDIS_HOST, port: int = REDIS_PORT) -> int:
    """An empty Redis db index (1..databases-1), claimed with a marker key so parallel runs differ."""
    server = redis.Redis(host=host, port=port)
    databases = int(server.config_get("databases").get("databases", 16))
    # An empty db can still be in use: an idle worker left running by another run
    # (its claim expired) would consume our messages from it. Skip dbs with clients.
    connected = {int(c.get("db", 0)) for c in server.client_list()}
    for index in range(databases - 1, 0, -1):
        if index in connected:
            continue
        client = redis.Redis(host=host, port=port, db=index)
        if client.dbsize() == 0 and client.set("aegis:test:claim", str(os.getpid()), nx=True, ex=3600):
            return index
    raise RuntimeError("no free Redis db index for the tests")


class RedisServer:
    """A test-owned ``redis-server`` on a free port (for restart tests)."""

    def __init__(self, appendonly: bool = False) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="aegis-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        # With AOF every write is fsynced: a restart keeps every message (as production runs).
        self.persistence = ["--appendonly", "yes", "--appendfsync", "always"] if appendonly else ["--appendonly", "no"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             *self.persistence, "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: what an evicted pod or a lost node does; nothing is flushed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def wipe(self) -> None:
        """Forget everything on disk: the next start is an empty broker (a new pod, a new disk)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisBroker:
    """A test-owned Redis with AOF as the broker: restarted with its data, or on an empty disk."""

    name = "redis"

    def __init__(self) -> None:
        self.server = RedisServer(appendonly=True)
        self.server.start()
        self.url = self.server.url

    def restart_with_data(self) -> None:
        self.server.kill()
        self.server.start()

    def restart_empty(self) -> None:
        self.server.kill()
        self.server.wipe()
        self.server.start()

    def cleanup(self) -> None:
        self.server.cleanup()


class SentinelSet:
    """A primary, one replica and one Sentinel watching them, all test-owned ``redis-server``s."""

    master = "aegis"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="aegis-sentinel-"))
        self.ports = {"a": free_port(), "b": free_port(), "sentinel": free_port()}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._redis("a")
        self._redis("b", "--replicaof", "127.0.0.1", str(self.ports["a"]))
        conf = self.dir / "sentinel.conf"
        conf.write_text(
            f"port {self.ports['sentinel']}\nbind 127.0.0.1\ndir {self.dir}\n"
            f"sentinel monitor {self.master} 127.0.0.1 {self.ports['a']} 1\n"
            f"sentinel down-after-milliseconds {self.master} 1000\n"
            f"sentinel failover-timeout {self.master} 5000\n"
        )
        self._spawn(["redis-server", str(conf), "--sentinel"], self.ports["sentinel"])
        wait_for(lambda: self.replica_synced(), 20, message="the replica to sync")
        self.url = f"sentinel://127.0.0.1:{self.ports['sentinel']}/0"

    def _spawn(self, argv: list[str], port: int) -> None:
        self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: _pings(port), 10, interval=0.05, message=f"redis on {port}")

    def _redis(self, name: str, *extra: str) -> None:
        folder = self.dir / name
        folder.mkdir()
        self._spawn(["redis-server", "--port", str(self.ports[name]), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--dir", str(folder), *extra], self.ports[name])

    def replica_synced(self) -> bool:
        info = redis.Redis(port=self.ports["b"]).info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    def master_port(self) -> int:
        host_port = redis.Redis(port=self.ports["sentinel"]).sentinel_get_master_addr_by_name(self.master)
        return int(host_port[1])

    def failover(self) -> int:
        """SENTINEL FAILOVER: the replica becomes the primary; returns the new primary's port."""
        before = self.master_port()
        redis.Redis(port=self.ports["sentinel"]).execute_command("SENTINEL", "FAILOVER", self.master)
        wait_for(lambda: self.master_port() != before, 30, message="the failover")
        return self.master_port()

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _pings(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.ConnectionError:
        return False


class RabbitBroker:
    """A vhost of its own on the local RabbitMQ, deleted afterwards.

    The shared server cannot be restarted under other tests, so its two failures are
    played inside the vhost: every connection dropped (a restart that kept its data),
    or the vhost deleted and created again (a node back on an empty disk: queues,
    exchanges and messages gone, every client disconnected).
    """

    name = "rabbitmq"
    host = os.environ.get("AEGIS_TEST_RABBITMQ_HOST", "127.0.0.1")
    port = int(os.environ.get("AEGIS_TEST_RABBITMQ_PORT", "5672"))

    def __init__(self) -> None:
        self.vhost = f"aegis-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.url = f"amqp://guest:guest@{self.host}:{self.port}/{self.vhost}"
        self._create()

    @staticmethod
    def ctl(*args: str) -> str:
        done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    def _create(self) -> None:
        self.ctl("add_vhost", self.vhost)
        self.ctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")

    def restart_with_data(self) -> None:
        self.ctl("close_all_connections", "-p", self.vhost, "aegis test: broker restart")

    def restart_empty(self) -> None:
        self.ctl("delete_vhost", self.vhost)
        self._create()

    def cleanup(self) -> None:
        self.ctl("delete_vhost", self.vhost)


def rabbitmq_available() -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        with socket.create_connection((RabbitBroker.host, RabbitBroker.port), timeout=2):
            return True
    except OSError:
        return False


class Stack:
    """Environment plus worker processes for one isolated Aegis deployment."""

    def __init__(self, database_url: str, broker_url: str, **env: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="aegis-stack-"))
        self.env = {
            **os.environ,
            "AEGIS_DATABASE_URL": database_url,
            "AEGIS_BROKER_URL": broker_url,
            "AEGIS_DATA_DIR": str(self.data_dir),
            "AEGIS_LOG_JSON": "1",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.metrics_ports: dict[str, int] = {}

    def settings(self) -> Any:
        from aegis.config import load_settings

        return load_settings(self.env)

    def migrate(self) -> None:
        from aegis.persistence import migrate

        migrate.upgrade(self.settings())

    def start_worker(self, stage: str, concurrency: int = 1, name: str | None = None) -> subprocess.Popen[bytes]:
        proc, ready = self._spawn_worker(stage, concurrency, name)
        self._await_ready(name or f"worker-{stage}", proc, ready)
        return proc

    def _spawn_worker(
        self, stage: str, concurrency: int = 1, name: str | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        """Start a worker without waiting for it: its ready file is returned for ``_await_ready``."""
        name = name or f"worker-{stage}"
        running = self.procs.get(name)
        if running is not None and running.poll() is None:
            # Replacing it would orphan a live worker (never stopped, still consuming) whose
            # heartbeat files share this name, so its readiness could pass for the new one's.
            raise RuntimeError(f"{name} is already running; stop it first or pick another name")
        heartbeat = self.data_dir / f"{name}.heartbeat"
        ready = heartbeat.with_name(heartbeat.name + ".ready")
        ready.unlink(missing_ok=True)
        self.metrics_ports[name] = free_port()
        metrics_dir = self.data_dir / f"{name}.metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir()
        env = {
            **self.env,
            "AEGIS_HEARTBEAT_FILE": str(heartbeat),
            "AEGIS_METRICS_PORT": str(self.metrics_ports[name]),
            # Inside the stack's folder, so even a SIGKILLed worker leaves nothing behind.
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        argv = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-Q", stage,
                "-n", f"{name}-{uuid.uuid4().hex[:6]}@%h", "--concurrency", str(concurrency),
                "--loglevel", "INFO", "--without-mingle", "--without-gossip"]
        log = self.data_dir / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        return proc, ready

    def _await_ready(self, name: str, proc: subprocess.Popen[bytes], ready: Path, timeout: float = 120) -> None:
        # Generous: importing the app and its parsers takes seconds, much longer on a loaded machine.
        deadline = time.monotonic() + timeout
        log = self.logs[name]
        while not ready.exists():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready: {log.read_text()[-3000:]}")
            time.sleep(0.1)

    def start_workers(self, concurrency: int = 1) -> None:
        """One worker per stage, all started at once (see ``start_stack``)."""
        self.start_stack(concurrency=concurrency, gateway=False, beat=False)

    def start_stack(
        self, extra_workers: tuple[str, ...] = (), concurrency: int = 1, gateway: bool = True, beat: bool = True
    ) -> None:
        """Workers (one per stage, one more per queue in ``extra_workers``), gateway and beat.

        Each process spends seconds importing the app before it is ready; starting them one
        after another made a stack's start the sum of those imports instead of the longest.
        The workers are spawned first, the gateway is waited for while they import, then each
        worker is waited for.
        """
        started = [(f"worker-{stage}", *self._spawn_worker(stage, concurrency)) for stage in STAGES]
        for n, queue in enumerate(extra_workers, start=2):
            name = f"worker-{queue}-{n}"
            started.append((name, *self._spawn_worker(queue, name=name)))
        if gateway:
            self.start_gateway()
        for name, proc, ready in started:
            # Three times the single-worker bound: all of them import at once on 2 cores.
            self._await_ready(name, proc, ready, timeout=360)
        if beat:
            self.start_beat()

    def start_gateway(self, name: str = "gateway", workers: int | None = 1, **env: str) -> str:
        """gunicorn serving ``web:create_app()``, started as ``aegis dev`` and the chart start it
        (the gevent worker of web/gunicorn_conf.py); returns its base URL once /health answers.

        ``name`` and ``env`` start another gateway on the same database and broker with
        other settings (a test's own limits); only the default one sets ``self.url``.
        One worker process unless asked (``None``: the gateway's default, one per CPU).
        """
        import requests

        running = self.procs.get(name)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"{name} is already running; stop it first or pick another name")
        port = free_port()
        log = self.data_dir / f"{name}.log"
        self.logs[name] = log
        proc = subprocess.Popen(
            gateway_argv("127.0.0.1", port, workers),
            env={**self.env, **env}, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        url = f"http://127.0.0.1:{port}"
        if name == "gateway":
            self.url = url

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text()[-3000:]}")
            try:
                return requests.get(url + "/health", timeout=5).ok
            except requests.RequestException:  # the port opens before the app has loaded
                return False

        wait_for(up, 90, message=f"{name} /health")  # gunicorn's worker imports the app after binding
        return url

    def create_tenant(self, name: str) -> str:
        """A tenant and its API key, straight in the database."""
        from aegis.persistence.db import session_scope
        from aegis.services.tenants import create_tenant

        with session_scope(self.settings()) as session:
            return create_tenant(session, name).api_key

    def start_beat(self) -> None:
        log = self.data_dir / "beat.log"
        self.logs["beat"] = log
        self.procs["beat"] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks", "beat", "--loglevel", "INFO",
             "-s", str(self.data_dir / "beat-schedule")],
            env=self.env, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        self.stop_all({name: sig}, timeout)

    def stop_all(self, signals: dict[str, int], timeout: float = 30) -> None:
        """Signal every named process first, then wait for each within one shared deadline.

        A worker's warm shutdown waits for its task and its broker connection to close; stopping
        the processes one after another made a stack's teardown the sum of those waits.
        """
        signalled = []
        for name, sig in signals.items():
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            try:
                os.killpg(proc.pid, sig)
                signalled.append(proc)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        for proc in signalled:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)

    def close(self) -> None:
        """Stop everything at once. Gateways get SIGQUIT (gunicorn's quick stop): on SIGTERM
        gunicorn drains, and the tests' idle keep-alive connections held each teardown for
        the keepalive timeout (5 s, more under load) with nothing left to serve."""
        self.stop_all({n: signal.SIGQUIT if n.startswith("gateway") else signal.SIGTERM for n in self.procs})
        from aegis.persistence.db import dispose_engines

        dispose_engines()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_text(self) -> str:
        return "\n".join(f"== {n}\n{p.read_text(errors='replace')[-4000:]}" for n, p in self.logs.items() if p.exists())


def wait_for(predicate: Any, timeout: float, interval: float = 0.2, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


TERMINAL = ("succeeded", "failed", "rejected")


class ApiClient:
    """A tiny HTTP client for the gateway, as a user's script would be."""

    def __init__(self, base_url: str, api_key: str) -> None:
        import requests

        self.base = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"

    def upload(self, path: Path, name: str | None = None, **form: str) -> Any:
        with open(path, "rb") as fh:
            return self.session.post(
                self.base + "/v1/documents", files={"file": (name or path.name, fh)}, data=form, timeout=60
            )

    def upload_bytes(self, name: str, data: bytes, **form: str) -> Any:
        return self.session.post(self.base + "/v1/documents", files={"file": (name, data)}, data=form, timeout=60)

    def get(self, path: str) -> Any:
        return self.session.get(self.base + path, timeout=30)

    def document(self, document_id: str) -> dict[str, Any]:
        response = self.get(f"/v1/documents/{document_id}")
        response.raise_for_status()
        return response.json()

    def wait(self, document_id: str, timeout: float = 120) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            doc = self.document(document_id)
            return doc if doc["status"] in TERMINAL else None

        return wait_for(done, timeout, interval=0.25, message=f"document {document_id} to end")


@contextmanager
def running_stack(broker_url: str, extra_workers: tuple[str, ...] = (), **env: str) -> Iterator[Stack]:
    """A whole stack on its own database: gateway, a worker per stage (plus ``extra_workers``
    queues, one more worker each), beat; its logs are printed if it fails to start or a test fails."""
    with postgres_database() as database_url:
        stack = Stack(database_url, broker_url, **env)
        try:
            stack.migrate()
            stack.start_stack(extra_workers)
            yield stack
        except BaseException:
            print(stack.log_text())
            raise
        finally:
            stack.close()


@contextmanager
def stack_of_its_own(**env: str) -> Iterator[Stack]:
    """``running_stack`` on a Redis db of its own (flushed afterwards), for settings the shared stack lacks."""
    index = pick_redis_db()
    try:
        with running_stack(f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}", **env) as stack:
            yield stack
    finally:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index).flushdb()
