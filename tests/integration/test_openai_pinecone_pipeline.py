"""The real pipeline with AEGIS_AI_PROVIDER=openai and AEGIS_VECTOR_STORE=pinecone,
the official SDKs in the workers talking to local servers that speak their protocols."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from aegis.ai.vectorstores.pinecone_store import namespace_for
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.pinecone_server import FakePinecone
from tests.harness import CORPUS, ApiClient, Stack, pick_redis_db, postgres_database

pytestmark = pytest.mark.integration
DIM = 16


@pytest.fixture(scope="module")
def remote_ai_stack() -> Iterator[tuple[Stack, FakeOpenAI, FakePinecone]]:
    openai_server = FakeOpenAI(embedding_dim=DIM).start()
    pinecone_server = FakePinecone(dimension=DIM).start()
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    with postgres_database() as database_url:
        stack = Stack(
            database_url, redis_url,
            AEGIS_AI_PROVIDER="openai", OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=openai_server.base_url,
            AEGIS_OPENAI_MAX_RETRIES="2", AEGIS_OPENAI_TIMEOUT="10", AEGIS_OPENAI_EMBEDDING_DIMENSIONS=str(DIM),
            AEGIS_VECTOR_STORE="pinecone", PINECONE_API_KEY=pinecone_server.api_key,
            AEGIS_PINECONE_HOST=pinecone_server.url, AEGIS_PINECONE_INDEX="aegis",
        )
        try:
            stack.migrate()
            stack.start_stack(beat=False)
            yield stack, openai_server, pinecone_server
        finally:
            stack.close()
            openai_server.stop()
            pinecone_server.stop()
            redis.Redis.from_url(redis_url).flushdb()


def test_openai_and_pinecone_enrich_index_search_reprocess_and_delete(
    remote_ai_stack: tuple[Stack, FakeOpenAI, FakePinecone],
) -> None:
    stack, openai_server, pinecone_server = remote_ai_stack
    api = ApiClient(stack.url, stack.create_tenant("remote-ai"))
    doc = api.wait(api.upload(CORPUS / "pdf" / "pdflatex-4-pages.pdf").json()["id"])
    assert doc["status"] == "succeeded", (doc["error"], stack.log_text()[-3000:])
    assert doc["ai"]["provider"] == "openai"
    assert doc["ai"]["usage"]["total_tokens"] > 0
    tenant_id = _tenant_id(stack, doc["id"])
    namespace = namespace_for(tenant_id)
    ids = pinecone_server.ids(namespace)
    assert ids == sorted(f"{doc['id']}#{i}" for i in range(doc["ai"]["chunks"]))
    assert openai_server.requests_to("/chat/completions")
    assert openai_server.requests_to("/embeddings")

    found = api.get("/v1/search?q=pdflatex&k=3").json()["results"]
    assert found and found[0]["document_id"] == doc["id"]

    api.session.post(f"{api.base}/v1/documents/{doc['id']}/reprocess")
    again = api.wait(doc["id"])
    assert again["status"] == "succeeded"
    assert pinecone_server.ids(namespace) == ids  # replaced, not duplicated

    assert api.session.delete(f"{api.base}/v1/documents/{doc['id']}").status_code == 204
    assert pinecone_server.ids(namespace) == []


def _tenant_id(stack: Stack, document_id: str) -> str:
    from aegis.persistence.db import session_scope
    from aegis.persistence.models import Document

    with session_scope(stack.settings()) as session:
        return session.get(Document, document_id).tenant_id
