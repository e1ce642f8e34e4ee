"""Cheap Kubernetes probes for Celery workers: a heartbeat file and a ready file.

``celery inspect ping`` as a liveness probe starts a Python interpreter, loads the
app, opens a broker connection and broadcasts to every worker, every few seconds,
from every pod. Instead, a worker bootstep touches ``AEGIS_HEARTBEAT_FILE`` from the
worker's own timer; the probe only checks the file's age (``find FILE -mmin -1``).
The timer runs in the worker's main process (its event loop, or its timer thread),
so a long task in a pool child does not stop the heartbeat, while a worker whose
event loop is wedged stops touching the file and gets restarted.

Readiness is ``AEGIS_HEARTBEAT_FILE`` + ``.ready``, created when Celery sends
``worker_ready`` (the consumer is connected and consuming). Both files are removed
when the worker stops, so a pod that is shutting down stops being ready at once.

With ``AEGIS_HEARTBEAT_FILE`` unset (a laptop, the test suite), nothing is installed
into the worker and no file is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_ready

__all__ = ["HEARTBEAT_INTERVAL", "HeartbeatStep", "heartbeat_path", "install", "ready_path"]

HEARTBEAT_ENV = "AEGIS_HEARTBEAT_FILE"
#: Seconds between two touches; the chart's probe allows a minute of silence.
HEARTBEAT_INTERVAL = 10.0

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
    # touch() on an existing file already updates mtime; utime makes it explicit
    # on filesystems where open-without-write does not.
    os.utime(path, None)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class HeartbeatStep(bootsteps.StartStopStep):
    """Worker bootstep: touch the heartbeat file every ``HEARTBEAT_INTERVAL`` s."""

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
        assert self.path is not None
        self.beat()
        self.tref = parent.timer.call_repeatedly(self.interval, self.beat, priority=10)

    def beat(self) -> None:
        """Touch the file; a failure is logged, never raised into the timer."""
        assert self.path is not None
        try:
            _touch(self.path)
        except OSError:
            logger.exception("cannot touch heartbeat file %s", self.path)

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


def _on_worker_ready(sender: Any = None, **_kwargs: Any) -> None:
    path = heartbeat_path()
    if path is None:
        return
    try:
        _touch(ready_path(path))
    except OSError:
        logger.exception("cannot create readiness file %s", ready_path(path))


def install(app: Celery) -> None:
    """Register the heartbeat step and the readiness handler on ``app``.

    Safe to call more than once: the step is a set member and the signal handler
    has a fixed ``dispatch_uid``. Whether anything happens is decided when a worker
    starts, from ``AEGIS_HEARTBEAT_FILE`` at that time.
    """
    app.steps["worker"].add(HeartbeatStep)
    worker_ready.connect(_on_worker_ready, weak=False, dispatch_uid="aegis.probes.ready")
