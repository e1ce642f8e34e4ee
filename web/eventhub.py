"""One Redis pub/sub connection per gateway process, shared by all its event streams.

A connection per stream would cost Redis a client per open browser tab and run
into the client pool's cap (redis-py's default is 100) long before the stream
caps. The hub pattern-subscribes once to every tenant's channel and hands each
message to the queues of the streams that follow that channel. Each stream's
queue is bounded: a stream that cannot keep up loses events (the document row
stays the truth, and the client's next snapshot catches up) rather than memory.

It runs in a daemon thread, a greenlet under the gevent worker.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app

from aegis.services import events

log = logging.getLogger("aegis.gateway.events")
EXTENSION = "aegis.eventhub"
PATTERN = events.channel("*")
QUEUE_SIZE = 256

Subscription = queue.Queue[dict[str, Any]]


class EventHub:
    def __init__(self, url: str, master: str | None = None) -> None:
        self.url = url
        self.master = master
        self._lock = threading.Lock()
        self._followers: dict[str, set[Subscription]] = {}
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._ready.clear()
                self._thread = threading.Thread(target=self._run, name="aegis-event-hub", daemon=True)
                self._thread.start()
        # Only once Redis confirmed the subscription may a stream re-check the row
        # and rely on hearing about every later change.
        if not self._ready.wait(10):
            raise ConnectionError("the event hub could not subscribe to Redis")

    @contextmanager
    def follow(self, channel: str) -> Iterator[Subscription]:
        self._start()
        subscription: Subscription = queue.Queue(QUEUE_SIZE)
        with self._lock:
            self._followers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                followers = self._followers.get(channel)
                if followers is not None:
                    followers.discard(subscription)
                    if not followers:
                        del self._followers[channel]

    def _run(self) -> None:
        while True:
            pubsub = events.redis_client(self.url, self.master).pubsub(ignore_subscribe_messages=False)
            try:
                pubsub.psubscribe(PATTERN)
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        self._ready.set()
                    elif message["type"] == "pmessage":
                        self._dispatch(message)
            except Exception as exc:  # noqa: BLE001 - Redis restarts: reconnect, never die
                log.warning("event hub lost Redis, reconnecting: %s", exc)
                self._ready.clear()
                time.sleep(1.0)
            finally:
                try:
                    pubsub.close()
                except Exception:  # noqa: BLE001 - closing a broken connection
                    pass

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        channel = channel.decode() if isinstance(channel, bytes) else str(channel)
        with self._lock:
            followers = list(self._followers.get(channel, ()))
        for subscription in followers:
            try:
                subscription.put_nowait(message)
            except queue.Full:
                pass  # a stream that does not keep up; its client re-reads the row


def install(app: Flask, hub: EventHub | None) -> None:
    app.extensions[EXTENSION] = hub


def event_hub() -> EventHub | None:
    found: EventHub | None = current_app.extensions.get(EXTENSION)
    return found
