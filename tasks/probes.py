"""Cheap Kubernetes probes for Celery workers: a heartbeat file and a ready file.

``celery inspect ping`` as a liveness probe starts a Python interpreter, loads the
app, opens a broker connection and broadcasts to every worker, every few seconds,
from every pod. Instead, a worker bootstep touches ``AEGIS_HEARTBEAT_FILE`` from the
worker's own timer; the probe only checks the file's age (``find FILE -mmin -1``).
The timer runs in the worker's main process (its event loop, or its timer thread),
so a long task in a pool child does not stop the heartbeat, while a worker whose
event loop is wedged stops touching the file and gets restarted.

Readiness is ``AEGIS_HEARTBEAT_FILE`` + ``.ready``: created when Celery sends
``worker_ready`` and whenever the consumer (re)starts consuming, removed when the
consumer stops, on shutdown and on a lost broker connection.

While the consumer reconnects to the broker, the event loop does not run and the
timer does not fire. A Redis restart must not make Kubernetes restart every worker,
so during a reconnect a thread keeps the heartbeat fresh, for at most
``RECONNECT_GRACE`` seconds; Celery's own retry limit still ends a worker that never
gets its broker back.

With ``AEGIS_HEARTBEAT_FILE`` unset (a laptop, the test suite), no step is included
in the worker and no file is written.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_ready
from celery.worker import state as worker_state

__all__ = [
    "HEARTBEAT_INTERVAL",
    "RECONNECT_GRACE",
    "ConsumerReadinessStep",
    "HeartbeatStep",
    "heartbeat_path",
    "install",
    "ready_path",
]

HEARTBEAT_ENV = "AEGIS_HEARTBEAT_FILE"
#: Seconds between two touches; the chart's probe allows a minute of silence.
HEARTBEAT_INTERVAL = 10.0
#: Longest broker reconnect, in seconds, during which the heartbeat is kept fresh.
RECONNECT_GRACE = 15 * 60.0

logger = logging.getLogger(__name__)


def heartbeat_path(env: Mapping[str, str] | None = None) -> Path | None:
    """The heartbeat file named by ``AEGIS_HEARTBEAT_FILE``, or None when unset."""
    raw = (os.environ if env is None else env).get(HEARTBEAT_ENV, "").strip()
    return Path(raw) if raw else None


def ready_path(heartbeat: Path) -> Path:
    """The readiness file that sits next to ``heartbeat``."""
    return heartbeat.with_name(heartbeat.name + ".ready")


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    os.utime(path, None)


def _safe_touch(path: Path) -> None:
    """Touch ``path``; a failure is logged, never raised into Celery."""
    try:
        _touch(path)
    except OSError:
        logger.exception("cannot touch probe file %s", path)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _shutting_down() -> bool:
    # Identity, as celery.worker.state.maybe_shutdown does: a warm shutdown sets 0.
    flags = (worker_state.should_stop, worker_state.should_terminate)
    return any(flag is not None and flag is not False for flag in flags)


class HeartbeatStep(bootsteps.StartStopStep):
    """Worker bootstep: touch the heartbeat file every ``interval`` seconds."""

    label = "Heartbeat"
    requires = ("celery.worker.components:Timer",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = heartbeat_path()
        self.interval = HEARTBEAT_INTERVAL
        self.tref: Any = None

    def include_if(self, parent: Any) -> bool:
        return self.path is not None

    def start(self, parent: Any) -> None:
        self.beat()
        self.tref = parent.timer.call_repeatedly(self.interval, self.beat, priority=10)

    def beat(self) -> None:
        if self.path is not None:
            _safe_touch(self.path)

    def stop(self, parent: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None
        if self.path is not None:
            _remove(ready_path(self.path))
            _remove(self.path)

    def terminate(self, parent: Any) -> None:
        self.stop(parent)

    def shutdown(self, parent: Any) -> None:
        self.stop(parent)


class _Keepalive:
    """Touches the heartbeat from a thread until stopped, shutdown, or the grace ends."""

    def __init__(self, path: Path, interval: float, grace: float) -> None:
        self.path = path
        self.interval = interval
        self.deadline = time.monotonic() + grace
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aegis-heartbeat-reconnect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            if _shutting_down() or time.monotonic() > self.deadline:
                return
            _safe_touch(self.path)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 1)


class ConsumerReadinessStep(bootsteps.StartStopStep):
    """Consumer bootstep: ready while consuming; heartbeat kept while reconnecting.

    The consumer's blueprint starts its steps on every (re)connection and stops them
    when the connection is lost or the worker shuts down, which is exactly when a
    pod stops being able to take work.
    """

    label = "Readiness"
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.path = heartbeat_path()
        self.interval = HEARTBEAT_INTERVAL
        self.grace = RECONNECT_GRACE
        self.keepalive: _Keepalive | None = None

    def include_if(self, parent: Any) -> bool:
        return self.path is not None

    def start(self, parent: Any) -> None:
        assert self.path is not None
        self._end_keepalive()
        _safe_touch(self.path)
        _safe_touch(ready_path(self.path))

    def stop(self, parent: Any) -> None:
        """Connection lost, or shutting down: not ready; alive while reconnecting."""
        assert self.path is not None
        _remove(ready_path(self.path))
        if not _shutting_down() and self.keepalive is None:
            self.keepalive = _Keepalive(self.path, self.interval, self.grace)

    def shutdown(self, parent: Any) -> None:
        self._end_keepalive()
        if self.path is not None:
            _remove(ready_path(self.path))

    def _end_keepalive(self) -> None:
        if self.keepalive is not None:
            self.keepalive.stop()
            self.keepalive = None


def _on_worker_ready(sender: Any = None, **_kwargs: Any) -> None:
    path = heartbeat_path()
    if path is not None:
        _safe_touch(ready_path(path))


def install(app: Celery) -> None:
    """Register the probe steps and the readiness handler on ``app``.

    Safe to call more than once: steps are set members and the signal handler has a
    fixed ``dispatch_uid``. Whether anything happens is decided when a worker
    starts, from ``AEGIS_HEARTBEAT_FILE`` at that time.
    """
    app.steps["worker"].add(HeartbeatStep)
    app.steps["consumer"].add(ConsumerReadinessStep)
    worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="aegis.probes.ready")
