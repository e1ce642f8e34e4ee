"""A Prometheus endpoint per worker, when ``AEGIS_METRICS_PORT`` is set.

Tasks run in prefork children, so counters use prometheus_client's multiprocess
mode: ``PROMETHEUS_MULTIPROC_DIR`` is set in the main process before the pool
forks (and before prometheus_client is imported), and the main process serves the
merged view on ``AEGIS_METRICS_PORT``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_process_shutdown, worker_ready, worker_shutdown

log = logging.getLogger("aegis.observability.metrics")
_owned_dir: str | None = None


def _port() -> int | None:
    raw = os.environ.get("AEGIS_METRICS_PORT", "").strip()
    return int(raw) if raw else None


def _on_init(**_kwargs: Any) -> None:
    global _owned_dir
    if _port() and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _owned_dir = tempfile.mkdtemp(prefix="aegis-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _owned_dir
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # The celery CLI loads Flower's command plugin, which imports prometheus_client
        # before this signal: re-pick the value class so metrics created from now on
        # (ours are created lazily) write to the shared directory.
        from prometheus_client import values

        values.ValueClass = values.get_value_class()


def _on_ready(**_kwargs: Any) -> None:
    port = _port()
    if not port:
        return
    from prometheus_client import start_http_server

    from aegis.config import load_settings
    from aegis.observability.metrics import WorkerCollector, exposition_registry

    registry = exposition_registry(load_settings())
    sender = _kwargs.get("sender")
    queues = sorted(sender.app.amqp.queues.consume_from) if sender is not None else []
    registry.register(WorkerCollector(queues))
    start_http_server(port, registry=registry)
    log.info("metrics on port %d", port)


def _on_child_exit(pid: int | None = None, **_kwargs: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid or os.getpid())


def _on_shutdown(**_kwargs: Any) -> None:
    if _owned_dir:
        shutil.rmtree(_owned_dir, ignore_errors=True)


def install(app: Celery) -> None:
    celeryd_init.connect(_on_init, weak=False)
    worker_ready.connect(_on_ready, weak=False)
    worker_process_shutdown.connect(_on_child_exit, weak=False)
    worker_shutdown.connect(_on_shutdown, weak=False)
