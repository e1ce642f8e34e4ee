"""Message priority per document: a light tenant's stages jump a flooding tenant's queue.

Admission bounds what each tenant has in flight, but the admitted messages still
share one queue per stage: tenant B's single document waits behind A's few at every
stage. So a document gets a priority when it is admitted, and every message of its
chain (later stages, batches, the reconciler's re-sends) carries it:

- ``HIGH`` when its tenant had nothing else in flight (a newcomer, a light user);
- ``NORMAL`` otherwise (a tenant already working through its own documents).

Brokers spell priority differently, so the level maps to a number per broker:

- Redis: kombu keeps one list per priority step and BRPOPs them in ascending step
  order, so a *lower* number is served first. ``HIGH`` is 0, the plain list named
  after the queue (what every message without a priority, e.g. the side tasks, uses);
  ``NORMAL`` is 9, the list ``<queue>\\x06\\x169``. Queue depths must add both lists
  (``queue_lists``).
- RabbitMQ: a *higher* number is served first. Our quorum queues have two levels on
  RabbitMQ 4.0 and later (a priority above 4 is high); RabbitMQ 3.x quorum queues
  ignore priorities, so there the order stays first come, first served.
- The embedded filesystem broker has no priorities: nothing is sent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

BrokerKind = Literal["filesystem", "redis", "amqp"]

#: kombu's Redis transport: the separator between a queue's name and its priority step.
REDIS_SEP = "\x06\x16"
#: The Redis priority steps (``broker_transport_options["priority_steps"]``): two lists per queue.
REDIS_STEPS = (0, 9)


class Level(StrEnum):
    HIGH = "high"
    NORMAL = "normal"


def level(others_in_flight: int) -> Level:
    """``HIGH`` when the tenant has no other document in flight."""
    return Level.HIGH if others_in_flight <= 0 else Level.NORMAL


def broker_value(lvl: Level, broker_kind: BrokerKind) -> int | None:
    """The message priority to publish with on this broker (None: publish without one)."""
    if broker_kind == "redis":
        return REDIS_STEPS[0] if lvl is Level.HIGH else REDIS_STEPS[-1]
    if broker_kind == "amqp":
        return 9 if lvl is Level.HIGH else 0
    return None


def for_document(others_in_flight: int, broker_kind: BrokerKind) -> int | None:
    """The message priority of a document whose tenant has ``others_in_flight`` other
    documents in the pipeline, as ``broker_kind`` spells it (None: the broker has none).
    Admission and the reconciler's re-sends ask the same question, so it has one name."""
    return broker_value(level(others_in_flight), broker_kind)


def queue_lists(queue: str) -> list[str]:
    """The Redis lists that hold a queue's waiting messages, one per priority step."""
    return [queue if step == 0 else f"{queue}{REDIS_SEP}{step}" for step in REDIS_STEPS]
