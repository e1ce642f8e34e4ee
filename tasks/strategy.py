"""A stage task's strategy in the worker's main process: hand the message to the pool first, announce it after.

With Celery's default strategy the ``task-received`` event (for Flower) is
flushed to the broker, a round trip, at the start of the event loop's next
turn, before the turn's poll that writes the request to a pool child: every hop
waited for it (about 1.6 ms of a hop's prefork handoff on the bench machine, the
largest part of what task events cost a hop). This strategy runs Celery's own
handler unchanged except that ``task-received`` (with its own timestamp) waits
for the task's next event, ``task-started`` once the child has accepted it, and
both go out in one flush. Flower still gets every event, in the same order.
"""

from __future__ import annotations

import time
from typing import Any

from celery.concurrency.prefork import TaskPool
from celery.worker.strategy import default


class _HoldReceived:
    """The consumer's event dispatcher, except that ``task-received`` waits for the task's next event.

    The held event keeps its own timestamp and goes out just before the next event
    of the same task (``task-started`` when the pool child accepts it, or a
    failure or revocation), in the same buffered flush.
    """

    #: A task that never produces another event must not hold memory forever.
    LIMIT = 64

    def __init__(self, dispatcher: Any) -> None:
        self._dispatcher = dispatcher
        self.held: dict[str, dict[str, Any]] = {}

    def hold(self, fields: dict[str, Any]) -> None:
        self.held[fields["uuid"]] = {**fields, "timestamp": time.time()}
        while len(self.held) > self.LIMIT:
            self.release(next(iter(self.held)))

    def release(self, uuid: str) -> None:
        fields = self.held.pop(uuid, None)
        if fields is not None:
            self._dispatcher.send("task-received", **fields)

    def send(self, type: str, **fields: Any) -> Any:  # noqa: A002 - Celery's keyword
        if type == "task-received" and "uuid" in fields:
            self.hold(fields)
            return None
        if "uuid" in fields:
            self.release(fields["uuid"])
        return self._dispatcher.send(type, **fields)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dispatcher, name)


class _Consumer:
    """The worker's consumer as Celery's strategy sees it, with the holding dispatcher."""

    def __init__(self, consumer: Any, dispatcher: _HoldReceived) -> None:
        self._consumer = consumer
        self.event_dispatcher = dispatcher

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def handoff_first(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """Celery's default strategy, with ``task-received`` sent after the request went to the pool.

    Only for the prefork pool: a solo or thread pool may run the task inside the
    handoff, and its ``task-started`` would then precede ``task-received``.
    """
    dispatcher = consumer.event_dispatcher
    if not (dispatcher and dispatcher.enabled and task.send_events) or not isinstance(consumer.pool, TaskPool):
        return default(task, app, consumer, **kwargs)
    holding = _HoldReceived(dispatcher)
    handler = default(task, app, _Consumer(consumer, holding), **kwargs)

    def on_message(message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **options: Any) -> Any:
        handed: list[str] = []
        before = set(holding.held)
        # Celery calls these just before it hands the request to the pool (not for an ETA or a revoked task).
        mine = [*(callbacks or ()), lambda request: handed.append(request.id)]
        try:
            return handler(message, body, ack, reject, mine, **options)
        finally:
            # Not handed to the pool now (an ETA, a retry's countdown, an error): announce it at once.
            for uuid in [u for u in holding.held if u not in handed and u not in before]:
                holding.release(uuid)

    return on_message
