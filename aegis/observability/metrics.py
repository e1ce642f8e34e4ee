"""Prometheus metrics shared by the gateway and the workers.

Metric objects are created on first use, not at import: a Celery worker must set
``PROMETHEUS_MULTIPROC_DIR`` before prometheus_client is imported, so that counts
made in prefork children reach the main process's ``/metrics``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from aegis.config import Settings
from aegis.pipeline.registry import STAGES
from aegis.vocabulary import DocumentStatus

NAMESPACE = "aegis"


@cache
def metrics() -> Any:
    """All metric objects, created once per process."""
    from types import SimpleNamespace

    from prometheus_client import Counter, Histogram

    m = SimpleNamespace(
        http_requests=Counter(
            "http_requests_total", "HTTP requests by endpoint and status", ["method", "endpoint", "status"],
            namespace=NAMESPACE,
        ),
        http_latency=Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["endpoint"], namespace=NAMESPACE,
        ),
        uploads=Counter("uploads_total", "Uploaded files by outcome", ["outcome"], namespace=NAMESPACE),
        upload_bytes=Counter("upload_bytes_total", "Bytes received in uploads", namespace=NAMESPACE),
        stage_tasks=Counter(
            "stage_tasks_total", "Stage task runs by outcome", ["stage", "outcome"], namespace=NAMESPACE,
        ),
        stage_duration=Histogram(
            "stage_duration_seconds", "Stage task duration", ["stage"], namespace=NAMESPACE,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
        ),
        # Units of fanned-out work (OCR: pages) done by batches: the dashboard's pages per second.
        stage_units=Counter(
            "stage_units_total", "Units (pages) processed by stage batches", ["stage", "outcome"],
            namespace=NAMESPACE,
        ),
        reconciler_resends=Counter(
            "reconciler_resends_total", "Stages and batches the reconciler sent again", ["stage"],
            namespace=NAMESPACE,
        ),
        reconciler_failures=Counter(
            "reconciler_failures_total", "Documents the reconciler failed after too many attempts", ["stage"],
            namespace=NAMESPACE,
        ),
        webhook_deliveries=Counter(
            "webhook_deliveries_total", "Webhook delivery attempts by outcome", ["outcome"], namespace=NAMESPACE,
        ),
        stage_errors=Counter(
            "stage_errors_total", "Documents a stage failed or rejected, by error code", ["stage", "code"],
            namespace=NAMESPACE,
        ),
    )
    _zero_series(m)
    return m


def _zero_series(m: Any) -> None:
    """Create the known label sets at 0, so dashboards and alerts see a series (and rate() a
    starting point) before the first event; in multiprocess mode an unused label set is absent."""
    from aegis.pipeline.registry import REGISTRY

    for spec in REGISTRY:
        for outcome in ("succeeded", "failed", "rejected", "retry", "timeout"):
            m.stage_tasks.labels(spec.name, outcome)
        m.stage_duration.labels(spec.name)
        m.reconciler_resends.labels(spec.name)
        m.reconciler_failures.labels(spec.name)
        if spec.fans_out:
            for outcome in ("succeeded", "failed"):
                m.stage_units.labels(spec.name, outcome)
    for outcome in ("delivered", "failed", "refused", "gave_up"):
        m.webhook_deliveries.labels(outcome)


class StateCollector:
    """Queue depth per stage and documents by status, read at scrape time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        depth = GaugeMetricFamily(f"{NAMESPACE}_queue_depth", "Messages waiting per stage queue", labels=["stage"])
        for stage, value in self._queue_depths().items():
            depth.add_metric([stage], value)
        yield depth
        docs = GaugeMetricFamily(f"{NAMESPACE}_documents", "Documents by status", labels=["status"])
        for status, value in self._documents_by_status().items():
            docs.add_metric([status], value)
        yield docs
        oldest = GaugeMetricFamily(
            f"{NAMESPACE}_oldest_document_age_seconds",
            "Seconds since the longest-waiting active document at each stage last made progress",
            labels=["stage"],
        )
        for stage, value in self._oldest_by_stage().items():
            oldest.add_metric([stage], value)
        yield oldest

    def _queue_depths(self) -> dict[str, float]:
        try:
            if self.settings.broker_kind == "amqp":
                return amqp_queue_depths(self.settings.broker_url)
            if self.settings.broker_kind != "redis":
                return {}
            from aegis.pipeline.priority import queue_lists
            from aegis.services.events import redis_client

            client = redis_client(self.settings.broker_url, self.settings.sentinel_master)
            # A queue is one list per priority step (fair share): the depth is their sum.
            return {stage: float(sum(client.llen(name) for name in queue_lists(stage))) for stage in STAGES}
        except Exception:  # noqa: BLE001 - a scrape must not fail because the broker is down
            return {}


    def _documents_by_status(self) -> dict[str, float]:
        from sqlalchemy import func, select

        from aegis.persistence.db import session_scope
        from aegis.persistence.models import Document

        try:
            with session_scope(self.settings) as session:
                rows = session.execute(select(Document.status, func.count()).group_by(Document.status)).all()
        except Exception:  # noqa: BLE001
            return {}
        counts = {str(status): 0.0 for status in DocumentStatus}
        counts.update({status: float(n) for status, n in rows})
        return counts


    def _oldest_by_stage(self) -> dict[str, float]:
        """0 for a stage with nothing waiting, so the series (and the alert on it) always exists."""
        from sqlalchemy import func, select

        from aegis.persistence.db import session_scope
        from aegis.persistence.models import Document, as_utc, utcnow
        from aegis.vocabulary import ACTIVE_STATUSES

        try:
            with session_scope(self.settings) as session:
                rows = session.execute(
                    select(Document.stage, func.min(Document.progress_at))
                    .where(Document.status.in_(ACTIVE_STATUSES), Document.stage.is_not(None))
                    .group_by(Document.stage)
                ).all()
        except Exception:  # noqa: BLE001
            return {}
        now = utcnow()
        ages = dict.fromkeys(STAGES, 0.0)
        ages.update({stage: max(0.0, (now - as_utc(at)).total_seconds()) for stage, at in rows if stage in ages})
        return ages


class WorkerCollector:
    """What a worker says about itself: the queues it consumes and its memory (main process plus pool)."""

    def __init__(self, queues: list[str]) -> None:
        self.queues = queues

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        consuming = GaugeMetricFamily(
            f"{NAMESPACE}_worker_consuming", "1 for each stage queue this worker consumes", labels=["stage"]
        )
        for queue in self.queues:
            consuming.add_metric([queue], 1.0)
        yield consuming
        yield GaugeMetricFamily(
            f"{NAMESPACE}_worker_memory_bytes", "Resident memory of the worker and its pool children",
            value=float(process_tree_rss(os.getpid())),
        )


def process_tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants, from /proc (0 where /proc is not Linux's)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/statm") as fh:
                total += int(fh.read().split()[1]) * page
            with open(f"/proc/{current}/task/{current}/children") as fh:
                todo.extend(int(child) for child in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


class _ProcessCollector:
    """This process's own metrics (the default registry), for single-process servers."""

    def collect(self) -> Any:
        from prometheus_client import REGISTRY

        yield from REGISTRY.collect()


def exposition_registry(settings: Settings) -> Any:
    """What ``/metrics`` shows: counters (from every process in multiprocess mode,
    i.e. when ``PROMETHEUS_MULTIPROC_DIR`` is set) plus the state gauges."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    metrics()  # make sure this process's metrics exist before the first scrape
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(StateCollector(settings))
    return registry


def render(settings: Settings) -> bytes:
    from prometheus_client import generate_latest

    return generate_latest(exposition_registry(settings))


def amqp_queue_depths(broker_url: str) -> dict[str, float]:
    """Ready messages per stage queue on RabbitMQ (a passive declare reports the count).

    A queue not declared yet (no worker has started) holds nothing: 0.
    """
    from amqp.exceptions import NotFound
    from kombu import Connection

    depths: dict[str, float] = {}
    with Connection(broker_url, connect_timeout=3) as connection:
        channel = connection.channel()
        for stage in STAGES:
            try:
                depths[stage] = float(channel.queue_declare(queue=stage, passive=True).message_count)
            except NotFound:
                depths[stage] = 0.0
                channel = connection.channel()  # the server closed the channel on 404
        channel.close()
    return depths
