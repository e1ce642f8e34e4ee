"""Fair share's message priorities: which level a document gets and how each broker spells it."""

from __future__ import annotations

from celery import Celery
from kombu.transport.redis import Channel

from aegis.pipeline import priority
from aegis.pipeline.chain import build_chain
from aegis.pipeline.priority import Level


def test_a_tenant_with_nothing_else_in_flight_is_high_and_a_busy_one_normal() -> None:
    assert priority.level(0) is Level.HIGH
    assert priority.level(1) is Level.NORMAL
    assert priority.level(500) is Level.NORMAL


def test_redis_serves_the_lower_number_first_and_rabbitmq_the_higher() -> None:
    redis_high, redis_normal = priority.broker_value(Level.HIGH, "redis"), priority.broker_value(Level.NORMAL, "redis")
    amqp_high, amqp_normal = priority.broker_value(Level.HIGH, "amqp"), priority.broker_value(Level.NORMAL, "amqp")
    assert redis_high is not None and redis_normal is not None and redis_high < redis_normal
    # RabbitMQ 4 quorum queues: above 4 is high, the rest normal.
    assert amqp_high is not None and amqp_normal is not None and amqp_high > 4 >= amqp_normal


def test_the_embedded_broker_gets_no_priority() -> None:
    assert priority.broker_value(Level.HIGH, "filesystem") is None
    assert priority.for_document(3, "filesystem") is None


def test_queue_lists_are_the_lists_kombu_puts_each_priority_in() -> None:
    channel = Channel.__new__(Channel)  # only the naming: no connection
    channel.priority_steps = list(priority.REDIS_STEPS)
    expected = [channel._q_for_pri("ai", step) for step in priority.REDIS_STEPS]
    assert priority.queue_lists("ai") == expected == ["ai", f"ai{Channel.sep}9"]
    # Both levels land on a list of their own.
    high, normal = (priority.broker_value(lvl, "redis") for lvl in (Level.HIGH, Level.NORMAL))
    assert {channel._q_for_pri("ai", high), channel._q_for_pri("ai", normal)} == set(expected)


def test_every_stage_of_a_chain_carries_the_documents_priority() -> None:
    app = Celery("priority-test")
    stages = build_chain(app, "doc", "token", priority=9).tasks
    assert len(stages) > 1
    assert all(sig.options["priority"] == 9 for sig in stages)
    assert all("priority" not in sig.options for sig in build_chain(app, "doc", "token").tasks)
