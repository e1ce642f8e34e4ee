"""The worker strategy's held ``task-received``: Flower gets every event, in order, after the pool handoff."""

from __future__ import annotations

import time
from typing import Any

from tasks.strategy import _HoldReceived


class Recorder:
    """Stands in for Celery's event dispatcher: what would be flushed to the broker, in order."""

    enabled = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, type: str, **fields: Any) -> None:  # noqa: A002 - Celery's keyword
        self.sent.append((type, fields))


def test_task_received_goes_out_just_before_the_same_tasks_task_started_with_its_own_time() -> None:
    recorder = Recorder()
    holding = _HoldReceived(recorder)
    holding.send("task-received", uuid="a", name="aegis.metadata")
    received_at = time.time()
    assert recorder.sent == []
    holding.send("task-received", uuid="b", name="aegis.metadata")
    holding.send("task-started", uuid="a", pid=1)
    assert [(t, f["uuid"]) for t, f in recorder.sent] == [("task-received", "a"), ("task-started", "a")]
    assert recorder.sent[0][1]["timestamp"] <= received_at
    holding.send("task-failed", uuid="b", exception="x")
    assert [(t, f["uuid"]) for t, f in recorder.sent][2:] == [("task-received", "b"), ("task-failed", "b")]
    assert holding.held == {}


def test_events_without_a_task_pass_through_and_held_ones_are_bounded() -> None:
    recorder = Recorder()
    holding = _HoldReceived(recorder)
    holding.send("worker-heartbeat", freq=2.0)
    assert recorder.sent == [("worker-heartbeat", {"freq": 2.0})]
    for n in range(holding.LIMIT + 1):
        holding.send("task-received", uuid=str(n))
    assert len(holding.held) == holding.LIMIT
    assert recorder.sent[-1][0] == "task-received" and recorder.sent[-1][1]["uuid"] == "0"
    assert holding.enabled is True  # everything else is the dispatcher's
