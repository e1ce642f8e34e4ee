"""gunicorn settings for the gateway, one copy for every way it runs.

``gunicorn -c python:web.gunicorn_conf --bind HOST:PORT 'web:create_app()'`` is the
command in ``aegis dev``, the test harness, the Helm chart and the container image;
flags given on the command line (``--workers``, ``--bind``) override these.
"""

from __future__ import annotations

import os
from typing import Any


def default_workers() -> int:
    """Gateway processes when ``--workers`` is not given: one per CPU this process may use, at most 4.

    One gevent worker is one core: a 1 KB upload costs the gateway a few ms of
    Python (Flask, multipart, SQLAlchemy), so one process tops out at about one
    core's worth of uploads while the other cores idle. Each process costs about
    90 MB of RSS; past 4 the database connections (each process has its own pool,
    up to 10) weigh more than the cores. ``WEB_CONCURRENCY`` (gunicorn's own
    variable) overrides it. With more than one, set ``PROMETHEUS_MULTIPROC_DIR``
    so ``/metrics`` adds up every process (the chart does).
    """
    configured = os.environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        return max(1, int(configured))
    return max(1, min(len(os.sched_getaffinity(0)), 4))


workers = default_workers()
# gevent: a waiting connection (an event stream, a slow upload) costs a greenlet, not a thread.
worker_class = "web.server.GatewayWorker"
# Connections one worker serves at once; event streams are capped well below it
# (AEGIS_MAX_STREAMS_PER_PROCESS) so they cannot take all of them.
worker_connections = 1000
# Also the time a client has to send a request's line and headers (gunicorn's
# async workers read them under this timeout): a slowloris is cut off after it.
keepalive = 5
# Under gevent, only the worker heartbeat: a worker whose loop is blocked this
# long is replaced. Upload bodies have their own deadline (web/slowbody.py).
timeout = 60
graceful_timeout = 30
# gunicorn's defaults, stated: beyond them the worker answers 414/431 problem+json.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
# No gunicornc control socket: nothing should manage the gateway behind the arbiter's back.
control_socket_disable = True


def post_fork(_server: Any, _worker: Any) -> None:
    """Traces (when OTEL_EXPORTER_OTLP_* ask for them) start in each worker: the exporter's
    thread would not survive a fork from the arbiter."""
    from aegis.observability import tracing

    tracing.setup("aegis-gateway")


def worker_exit(_server: Any, _worker: Any) -> None:
    """Flush buffered spans before the worker goes."""
    from aegis.observability import tracing

    tracing.shutdown()
