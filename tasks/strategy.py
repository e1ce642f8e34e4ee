"""A stage task's strategy in the worker's main process: hand the message to the pool first, announce it after.

Celery's default strategy publishes the ``task-received`` event (a round trip to
the broker, for Flower) before it passes the request to a pool child, so every
hop waits for it: about 1.6 ms of a hop's prefork handoff on the bench machine,
the largest part of what task events cost a hop. This strategy runs Celery's own
handler unchanged except that ``task-received`` is held until the request has
been handed over, then sent at once: Flower still gets every event, in the same
order (``task-started`` comes from the child's acknowledgement, which the main
process reads later in its event loop).
"""

from __future__ import annotations

from typing import Any

from celery.concurrency.prefork import TaskPool
from celery.worker.strategy import default


class _HoldReceived:
    """The consumer's event dispatcher, except that ``task-received`` is kept for later."""

    def __init__(self, dispatcher: Any) -> None:
        self._dispatcher = dispatcher
        self.held: list[dict[str, Any]] = []

    def send(self, type: str, **fields: Any) -> Any:  # noqa: A002 - Celery's keyword
        if type == "task-received":
            self.held.append(fields)
            return None
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
        try:
            return handler(message, body, ack, reject, callbacks, **options)
        finally:
            while holding.held:
                dispatcher.send("task-received", **holding.held.pop(0))

    return on_message
