"""Traces from the workers: the OpenTelemetry SDK starts in each pool child, after the fork.

Starting it in the main process would leave the children with a copy of an
exporter whose thread did not survive the fork; ``worker_process_init`` runs in
every child before its first task. Off (nothing imported) unless the standard
``OTEL_EXPORTER_OTLP_*`` variables ask for traces; see aegis/observability/tracing.py.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_process_shutdown

from aegis.observability import tracing


def _on_child_start(**_kwargs: Any) -> None:
    tracing.setup("aegis-worker")


def _on_child_exit(**_kwargs: Any) -> None:
    # Flush the spans of the last tasks before the child goes (max-tasks-per-child, shutdown).
    tracing.shutdown()


def install(app: Celery) -> None:
    worker_process_init.connect(_on_child_start, weak=False)
    worker_process_shutdown.connect(_on_child_exit, weak=False)
