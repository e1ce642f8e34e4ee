"""The worker heartbeat and readiness files behind the chart's exec probes.

The step is exercised on its own with Celery's real timer (no broker), and once in a
real ``celery worker`` process on the in-memory transport, which is what proves the
step is really part of the worker blueprint and that SIGTERM removes the files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Celery
from celery.utils.timer2 import Timer

from tasks import probes


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
        deadline = time.monotonic() + 5
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
    assert "cannot touch heartbeat file" in caplog.text


def test_install_registers_step_once_on_worker_blueprint() -> None:
    app = Celery("probe-test", set_as_current=False)
    probes.install(app)
    probes.install(app)
    assert [s for s in app.steps["worker"] if s is probes.HeartbeatStep] == [probes.HeartbeatStep]


APP_MODULE = textwrap.dedent(
    """
    from celery import Celery
    from tasks import probes

    app = Celery("probe_app", broker="memory://")
    app.conf.worker_hijack_root_logger = False
    probes.install(app)
    """
)


def test_real_worker_writes_files_and_removes_them_on_sigterm(tmp_path: Path, heartbeat: Path) -> None:
    (tmp_path / "probe_app.py").write_text(APP_MODULE)
    repo = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "AEGIS_HEARTBEAT_FILE": str(heartbeat),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo)]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "probe_app",
            "worker",
            "-P",
            "solo",
            "-Q",
            "validate",
            "-n",
            "validate@probe",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ready = probes.ready_path(heartbeat)
    try:
        deadline = time.monotonic() + 30
        while not (heartbeat.exists() and ready.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                pytest.fail(f"worker never became ready (rc={proc.poll()}):\n{out}")
            time.sleep(0.1)
        # SIGTERM is Celery's warm shutdown: the step's stop() must run.
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not ready.exists(), "a stopping worker must stop being ready"
    assert not heartbeat.exists(), "a stopped worker must not look alive"
