"""Celery routing derived from the stage registry: one queue per stage.

``celeryconfig`` takes its ``task_queues`` and ``task_routes`` from here, so a new
registry entry gets its queue and route without touching the configuration.
"""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue

from aegis.pipeline.registry import REGISTRY, Registry

#: Light tasks that are not stages share the first stage's queue.
SIDE_TASKS = ("aegis.reconcile", "aegis.webhook", "aegis.retention")


#: Replicated, durable RabbitMQ queues (Raft): a message confirmed to the publisher survives a node loss.
QUORUM = {"x-queue-type": "quorum"}


def task_queues(registry: Registry = REGISTRY, quorum: bool = False) -> list[Queue]:
    """One queue per stage; on RabbitMQ a quorum queue behind a topic exchange.

    Topic, not direct: Celery delays a retry's countdown on quorum queues through
    RabbitMQ itself (native delayed delivery), which routes only through topic
    exchanges; with a direct one the worker would hold the message until its ETA.
    A stage's routing key is its plain name, so it matches exactly as before.
    """
    if quorum:
        return [
            Queue(q, Exchange(q, type="topic"), routing_key=q, queue_arguments=dict(QUORUM)) for q in registry.queues
        ]
    return [Queue(q, Exchange(q, type="direct"), routing_key=q) for q in registry.queues]


def task_routes(registry: Registry = REGISTRY) -> dict[str, dict[str, Any]]:
    routes: dict[str, dict[str, Any]] = {}
    for spec in registry:
        route = {"queue": spec.queue, "routing_key": spec.queue}
        routes[spec.task_name] = route
        if spec.fans_out:
            routes[spec.batch_task_name] = route
    side = registry.first.queue
    routes.update({name: {"queue": side, "routing_key": side} for name in SIDE_TASKS})
    return routes


def default_queue(registry: Registry = REGISTRY) -> str:
    return registry.first.queue
