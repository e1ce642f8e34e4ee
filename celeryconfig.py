"""Celery configuration: routing (one queue per stage) and every reliability setting.

Read by ``tasks.app`` through ``config_from_object``. Values come from the same
``AEGIS_*`` environment as the rest of Aegis, so workers, beat and the gateway
always agree on the broker and the limits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aegis.config import SettingsError, exit_on_settings_error, load_settings
from aegis.pipeline import routing
from aegis.pipeline.priority import REDIS_STEPS
from aegis.pipeline.registry import REGISTRY

try:
    _settings = load_settings()
except SettingsError as _exc:
    # Workers, beat and Flower import this first: refuse to start with one line
    # naming the variable, not a traceback through Celery's app loader.
    exit_on_settings_error(_exc)

broker_url = _settings.broker_url
broker_connection_retry_on_startup = True
broker_transport_options: dict[str, object] = {
    # Must exceed every stage's hard time limit, or Redis would hand a running
    # task to a second worker (load_settings enforces it).
    "visibility_timeout": _settings.visibility_timeout,
    # Fair share's two message priorities (aegis/pipeline/priority.py): one list per step,
    # BRPOPed lowest step first, so a light tenant's messages (step 0, the queue's plain
    # list) jump a flooding tenant's (step 9). kombu orders the BRPOP keys by step before
    # queue, so queue_order_strategy stays round-robin: "priority" would let a folded
    # worker's first queue starve its others.
    "priority_steps": list(REDIS_STEPS),
}


def _seed_exchange_tables(control: Path, exchanges: tuple[str, ...]) -> None:
    """Create each exchange's binding table ("[]") atomically, before any worker starts.

    kombu's filesystem transport creates a missing table with an unlocked empty
    file; a second worker starting at the same moment can read it empty and crash
    (JSONDecodeError). Once a table exists, kombu reads and writes it under a lock.
    """
    for exchange in exchanges:
        table = control / f"{exchange}.exchange"
        if table.exists():
            continue
        fd, tmp = tempfile.mkstemp(dir=control, prefix=".seed-")
        with os.fdopen(fd, "w") as fh:
            fh.write("[]")
        try:
            os.link(tmp, table)  # atomic; fails if another process won
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)


if _settings.broker_url.startswith("sentinel://"):
    # kombu asks these Sentinels for the current master of this name, and again after a failover.
    broker_transport_options["master_name"] = _settings.sentinel_master

if _settings.broker_kind == "amqp":
    # Quorum queues: the publisher waits for RabbitMQ's confirm, so an accepted upload's
    # message is on a majority of nodes. Celery turns global QoS off by itself when it
    # sees a quorum queue (worker_detect_quorum_queues), as quorum queues require.
    # Fair share's priorities need no queue argument: RabbitMQ 4 quorum queues have two
    # levels (a message above 4 is high); 3.x quorum queues ignore them.
    broker_transport_options = {"confirm_publish": True}
    worker_detect_quorum_queues = True

if _settings.embedded_broker:
    _folder = _settings.broker_folder()
    for _sub in ("queue", "control"):
        (_folder / _sub).mkdir(parents=True, exist_ok=True)
    _seed_exchange_tables(_folder / "control", ("celery.pidbox", "reply.celery.pidbox", "celeryev", *REGISTRY.queues))
    broker_transport_options.update(
        data_folder_in=str(_folder / "queue"),
        data_folder_out=str(_folder / "queue"),
        control_folder=str(_folder / "control"),
    )

# An upload must not hang when the broker is down: the document row is already
# committed and the reconciler sends it later, so give up publishing quickly.
broker_connection_timeout = 3
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}

# The database is the record of truth; Celery results are not needed.
result_backend = None
task_ignore_result = True
task_serializer = "json"
accept_content = ["json"]

# One queue per stage, from the stage registry; the reconciler and webhooks are
# light and share the first stage's queue. On RabbitMQ they are quorum queues.
task_queues = routing.task_queues(quorum=_settings.broker_kind == "amqp")
task_default_queue = routing.default_queue()
task_routes = routing.task_routes()

# At-least-once delivery, made effectively-once by the stage runner.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_cancel_long_running_tasks_on_connection_loss = True
worker_max_memory_per_child = _settings.worker_max_memory_kb
worker_max_tasks_per_child = 200

# Flower and `celery events` need these. They are most of the broker's traffic
# (about four event messages per task) and cost every hop a few publishes, so a
# deployment without Flower turns them off with AEGIS_TASK_EVENTS=0.
worker_send_task_events = _settings.task_events
task_send_sent_event = _settings.task_events

# No stage task has a rate limit (admission and quotas pace the work), so the
# worker need not check every received task against a token bucket.
worker_disable_rate_limits = True

worker_hijack_root_logger = False

beat_schedule = {
    "reconcile": {"task": "aegis.reconcile", "schedule": _settings.reconcile_interval},
    "retention": {"task": "aegis.retention", "schedule": _settings.retention_interval},
}
beat_schedule_filename = str(_settings.data_dir / "celerybeat-schedule")
