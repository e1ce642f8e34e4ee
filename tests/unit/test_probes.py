"""The worker heartbeat and readiness files behind the chart's exec probes.

The step is exercised on its own with Celery's real timer (no broker), and once in a
real ``celery worker`` process on the in-memory transport, which is what proves the
step is really part of the worker blueprint and that SIGTERM removes the files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from celery.utils.timer2 import Timer

from tasks import probes
from tests.harness import RedisServer


@pytest.fixture()
def heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "probes" / "worker.heartbeat"
    monkeypatch.setenv("AEGIS_HEARTBEAT_FILE", str(path))
    return path


def _worker(timer: Timer) -> SimpleNamespace:
    return SimpleNamespace(timer=timer, steps=[])


def test_step_is_left_out_without_heartbeat_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AEGIS_HEARTBEAT_FILE", raising=False)
    parent = _worker(Timer())
    step = probes.HeartbeatStep(parent)
    assert step.include(parent) is False
    assert parent.steps == []


def test_start_touches_file_and_keeps_touching_it(heartbeat: Path) -> None:
    timer = Timer()
    parent = _worker(timer)
    step = probes.HeartbeatStep(parent)
    step.interval = 0.05
    assert step.include(parent) is True
    try:
        step.start(parent)
        assert heartbeat.exists(), "the first beat is immediate, before the first interval"
        os.utime(heartbeat, (0, 0))
        deadline = time.monotonic() + 30  # an early exit: generous for a loaded machine
        while heartbeat.stat().st_mtime == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert heartbeat.stat().st_mtime > time.time() - 60, "the timer did not touch the file"
    finally:
        step.stop(parent)
        timer.stop()


def test_stop_cancels_timer_and_removes_both_files(heartbeat: Path) -> None:
    timer = Timer()
    parent = _worker(timer)
    step = probes.HeartbeatStep(parent)
    step.interval = 0.05
    step.start(parent)
    probes._on_worker_ready(sender=None)
    assert probes.ready_path(heartbeat).exists()

    step.stop(parent)
    time.sleep(0.2)  # a timer that was not cancelled would recreate the file
    timer.stop()
    assert not heartbeat.exists()
    assert not probes.ready_path(heartbeat).exists()
    assert step.tref is None


def test_worker_ready_signal_creates_readiness_file(heartbeat: Path) -> None:
    app = Celery("probe-test", set_as_current=False)
    probes.install(app)
    from celery.signals import worker_ready

    worker_ready.send(sender=None)
    assert probes.ready_path(heartbeat) == heartbeat.with_name("worker.heartbeat.ready")
    assert probes.ready_path(heartbeat).exists()


def test_ready_signal_without_heartbeat_file_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AEGIS_HEARTBEAT_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    probes._on_worker_ready(sender=None)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_heartbeat_is_logged_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("AEGIS_HEARTBEAT_FILE", str(blocker / "heartbeat"))
    step = probes.HeartbeatStep(_worker(Timer()))
    step.beat()
    assert "cannot touch probe file" in caplog.text


def test_install_registers_each_step_once() -> None:
    app = Celery("probe-test", set_as_current=False)
    probes.install(app)
    probes.install(app)
    assert [s for s in app.steps["worker"] if s is probes.HeartbeatStep] == [probes.HeartbeatStep]
    assert [s for s in app.steps["consumer"] if s is probes.ConsumerReadinessStep] == [probes.ConsumerReadinessStep]


def test_consumer_start_makes_the_worker_ready(heartbeat: Path) -> None:
    parent = SimpleNamespace(steps=[])
    step = probes.ConsumerReadinessStep(parent)
    assert step.include(parent) is True
    step.start(parent)
    assert probes.ready_path(heartbeat).exists()
    assert heartbeat.exists()
    step.shutdown(parent)
    assert not probes.ready_path(heartbeat).exists()


def test_lost_connection_unreadies_but_keeps_the_heartbeat_fresh(heartbeat: Path) -> None:
    parent = SimpleNamespace(steps=[])
    step = probes.ConsumerReadinessStep(parent)
    step.interval = 0.05
    step.start(parent)
    try:
        step.stop(parent)  # what the consumer blueprint does on a lost connection
        assert not probes.ready_path(heartbeat).exists(), "a reconnecting worker takes no work"
        os.utime(heartbeat, (0, 0))
        deadline = time.monotonic() + 30  # an early exit: generous for a loaded machine
        while heartbeat.stat().st_mtime == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert heartbeat.stat().st_mtime > 0, "liveness must survive a broker restart"
        step.start(parent)  # reconnected
        assert step.keepalive is None
        assert probes.ready_path(heartbeat).exists()
    finally:
        step.shutdown(parent)


def test_keepalive_gives_up_after_the_reconnect_grace(heartbeat: Path) -> None:
    parent = SimpleNamespace(steps=[])
    step = probes.ConsumerReadinessStep(parent)
    step.interval, step.grace = 0.02, 0.1
    step.start(parent)
    step.stop(parent)
    try:
        keepalive = step.keepalive
        assert keepalive is not None
        # Its thread ends by itself once the grace is over (a fixed pause could end before a
        # delayed last touch on a loaded machine); a keepalive ignoring the grace never ends.
        keepalive._thread.join(10)
        assert not keepalive._thread.is_alive(), "a worker that never reconnects must look dead"
    finally:
        step.shutdown(parent)


def test_no_keepalive_when_the_worker_is_shutting_down(heartbeat: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.worker import state

    monkeypatch.setattr(state, "should_stop", 0)  # EX_OK: Celery's warm shutdown
    parent = SimpleNamespace(steps=[])
    step = probes.ConsumerReadinessStep(parent)
    step.start(parent)
    step.stop(parent)
    assert step.keepalive is None
    step.shutdown(parent)


APP_MODULE = textwrap.dedent(
    """
    from celery import Celery
    from tasks import probes

    import os

    probes.HEARTBEAT_INTERVAL = float(os.environ.get("PROBE_TEST_INTERVAL", "10"))
    app = Celery("probe_app", broker=os.environ.get("PROBE_TEST_BROKER", "memory://"))
    app.conf.worker_hijack_root_logger = False
    app.conf.broker_connection_retry_on_startup = True
    probes.install(app)
    """
)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; worker log:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


@contextmanager
def _worker_process(tmp_path: Path, heartbeat: Path, *args: str, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``celery worker`` on the probe test app; SIGTERM'd and reaped at the end."""
    (tmp_path / "probe_app.py").write_text(APP_MODULE)
    repo = Path(__file__).resolve().parents[2]
    log = tmp_path / "worker.log"
    full_env = {
        **os.environ,
        **env,
        "AEGIS_HEARTBEAT_FILE": str(heartbeat),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo)]),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "probe_app",
        "worker",
        "-Q",
        "validate",
        "-n",
        "validate@probe",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
        *args,
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=tmp_path, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGTERM is Celery's warm shutdown: the steps' stop() must run.
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_real_worker_writes_files_and_removes_them_on_sigterm(tmp_path: Path, heartbeat: Path) -> None:
    ready = probes.ready_path(heartbeat)
    log = tmp_path / "worker.log"
    with _worker_process(tmp_path, heartbeat, "-P", "solo") as proc:
        _wait_for(lambda: heartbeat.exists() and ready.exists(), 90, "the worker to be ready", log)
        _stop(proc)
    assert not ready.exists(), "a stopping worker must stop being ready"
    assert not heartbeat.exists(), "a stopped worker must not look alive"


@pytest.fixture()
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def test_real_worker_stays_alive_but_unready_while_redis_restarts(
    tmp_path: Path, heartbeat: Path, redis_server: RedisServer
) -> None:
    """The prefork pool runs the event loop: no loop while reconnecting, yet no restart."""
    ready = probes.ready_path(heartbeat)
    log = tmp_path / "worker.log"
    env = {"PROBE_TEST_BROKER": redis_server.url, "PROBE_TEST_INTERVAL": "0.3"}
    with _worker_process(tmp_path, heartbeat, "-P", "prefork", "--concurrency", "1", **env) as proc:
        _wait_for(lambda: ready.exists(), 90, "the worker to be ready", log)

        redis_server.stop()
        _wait_for(lambda: not ready.exists(), 15, "readiness to drop with the broker", log)
        os.utime(heartbeat, (0, 0))
        _wait_for(lambda: heartbeat.stat().st_mtime > 0, 30, "the heartbeat while reconnecting", log)

        redis_server.start()
        _wait_for(lambda: ready.exists(), 60, "readiness after the broker came back", log)
        time.sleep(1)  # let the reconnect finish its start-up before checking the timer
        os.utime(heartbeat, (0, 0))
        _wait_for(lambda: heartbeat.stat().st_mtime > 0, 30, "the worker's own timer after reconnecting", log)

        _stop(proc)
    assert not ready.exists() and not heartbeat.exists()
