"""Fixtures that start a real stack: PostgreSQL database, Redis db index, gateway,
one Celery worker per stage queue, and beat."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from tests.harness import REDIS_HOST, REDIS_PORT, ApiClient, Stack, pick_redis_db, running_stack

pytestmark = pytest.mark.integration
WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    index = pick_redis_db()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index)
    try:
        yield f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}"
    finally:
        client.flushdb()


@pytest.fixture(scope="session")
def stack(redis_url: str) -> Iterator[Stack]:
    with running_stack(
        redis_url, AEGIS_RECONCILE_INTERVAL="5", AEGIS_WEBHOOK_SECRET=WEBHOOK_SECRET, AEGIS_ALLOW_PRIVATE_WEBHOOKS="1"
    ) as stack:
        yield stack


@pytest.fixture()
def api(stack: Stack) -> ApiClient:
    """A fresh tenant per test: uploads in one test are never duplicates of another's."""
    return ApiClient(stack.url, stack.create_tenant(f"tenant-{uuid.uuid4().hex[:12]}"))
