"""The Pinecone vector store, driven through the real ``pinecone`` SDK against a local fake index."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

pytest.importorskip("pinecone")

from aegis.ai import get_vector_store  # noqa: E402
from aegis.ai.errors import PermanentAIError, TransientAIError  # noqa: E402
from aegis.ai.types import VectorItem  # noqa: E402
from aegis.ai.vectorstores.pinecone_store import EXCERPT_BYTES, PineconeVectorStore  # noqa: E402
from aegis.config import SettingsError, load_settings  # noqa: E402
from tests.fakes.pinecone_server import FakePinecone  # noqa: E402

DIM = 8


@pytest.fixture
def fake() -> Iterator[FakePinecone]:
    with FakePinecone(dimension=DIM, api_key="pc-test") as server:
        yield server


def make(fake: FakePinecone, **overrides: object) -> PineconeVectorStore:
    options: dict = {"api_key": "pc-test", "host": fake.url, "batch_size": 100, "timeout": 5.0}
    options.update(overrides)
    return PineconeVectorStore(**options)


def unit(i: int, dim: int = DIM) -> list[float]:
    """A one-hot vector: chunk ``i`` is the only exact match for query ``unit(i)``."""
    return [1.0 if j == i % dim else 0.0 for j in range(dim)]


def items(n: int, text: str = "chunk text") -> list[VectorItem]:
    return [
        VectorItem(chunk_index=i, vector=unit(i), page_start=i + 1, page_end=i + 2, text=f"{text} {i}")
        for i in range(n)
    ]


def test_upsert_writes_batched_records_into_the_tenants_namespace(fake: FakePinecone) -> None:
    make(fake, batch_size=3).upsert("t1", "doc-a", items(7))

    upserts = fake.requests_to("/vectors/upsert")
    assert [len(r.body["vectors"]) for r in upserts] == [3, 3, 1]
    assert {r.body["namespace"] for r in upserts} == {"tenant-t1"}
    assert all(r.headers["api-key"] == "pc-test" for r in fake.requests)
    assert fake.ids("tenant-t1") == sorted(f"doc-a#{i}" for i in range(7))
    record = fake.namespaces["tenant-t1"]["doc-a#2"]
    assert record["values"] == unit(2)
    assert record["metadata"] == {
        "document_id": "doc-a",
        "chunk_index": 2,
        "page_start": 3,
        "page_end": 4,
        "text": "chunk text 2",
    }


def test_large_chunks_keep_their_metadata_under_pinecones_limit(fake: FakePinecone) -> None:
    huge = "€" * 100_000  # 300 KB of UTF-8, multi-byte characters
    make(fake).upsert("t1", "doc-a", [VectorItem(0, unit(0), 1, 1, huge)])

    text = fake.namespaces["tenant-t1"]["doc-a#0"]["metadata"]["text"]
    assert 0 < len(text.encode()) <= EXCERPT_BYTES
    assert set(text) == {"€"}  # cut between characters, never inside one
    assert len(json.dumps(fake.namespaces["tenant-t1"]["doc-a#0"]["metadata"]).encode()) < 40 * 1024


def test_reprocessing_a_document_replaces_its_vectors_without_duplicates(fake: FakePinecone) -> None:
    store = make(fake)
    store.upsert("t1", "doc-a", items(5, "old"))
    store.upsert("t1", "doc-b", items(2, "other"))

    store.upsert("t1", "doc-a", items(3, "new"))

    assert fake.ids("tenant-t1") == ["doc-a#0", "doc-a#1", "doc-a#2", "doc-b#0", "doc-b#1"]
    assert fake.namespaces["tenant-t1"]["doc-a#1"]["metadata"]["text"] == "new 1"
    # The stale records were found by prefix, and deleted by id.
    lists = fake.requests_to("/vectors/list")
    assert lists[-1].query["prefix"] == ["doc-a#"] and lists[-1].query["namespace"] == ["tenant-t1"]
    (delete,) = fake.requests_to("/vectors/delete")
    assert sorted(delete.body["ids"]) == ["doc-a#3", "doc-a#4"]


def test_deleting_a_document_pages_through_its_ids_and_leaves_the_others(fake: FakePinecone) -> None:
    store = make(fake)
    store.upsert("t1", "doc-a", items(250))
    store.upsert("t1", "doc-ab", items(2))  # shares a string prefix, not the "doc-a#" prefix
    store.upsert("t2", "doc-a", items(2))
    fake.requests.clear()

    store.delete_document("t1", "doc-a")

    lists = fake.requests_to("/vectors/list")
    assert len(lists) == 3  # 100 + 100 + 50, following pagination tokens
    assert "paginationToken" not in lists[0].query and "paginationToken" in lists[1].query
    assert fake.ids("tenant-t1") == ["doc-ab#0", "doc-ab#1"]
    assert fake.ids("tenant-t2") == ["doc-a#0", "doc-a#1"]


def test_deletes_are_sent_in_batches_of_at_most_a_thousand_ids(fake: FakePinecone) -> None:
    store = make(fake, batch_size=1000)
    store.upsert("t1", "doc-a", items(1200))
    store.delete_document("t1", "doc-a")
    deletes = fake.requests_to("/vectors/delete")
    assert [len(d.body["ids"]) for d in deletes] == [1000, 200]
    assert fake.ids("tenant-t1") == []


def test_query_ranks_within_the_tenants_namespace_only(fake: FakePinecone) -> None:
    store = make(fake)
    store.upsert("t1", "doc-a", items(4))
    store.upsert("t2", "doc-secret", items(4))

    matches = store.query("t1", unit(2), k=3)

    (query,) = fake.requests_to("/query")
    assert query.body["namespace"] == "tenant-t1" and query.body["topK"] == 3
    assert "filter" not in query.body
    assert matches[0].document_id == "doc-a" and matches[0].chunk_index == 2
    assert matches[0].score == pytest.approx(1.0)
    assert all(m.document_id == "doc-a" for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_query_can_be_restricted_to_one_document(fake: FakePinecone) -> None:
    store = make(fake)
    store.upsert("t1", "doc-a", items(4))
    store.upsert("t1", "doc-b", items(4))

    matches = store.query("t1", unit(1), k=10, document_id="doc-b")

    assert fake.requests_to("/query")[0].body["filter"] == {"document_id": {"$eq": "doc-b"}}
    assert {m.document_id for m in matches} == {"doc-b"} and len(matches) == 4


def test_throttling_is_retried_by_the_sdk(fake: FakePinecone) -> None:
    fake.fail(429, path="/query", body={"code": 8, "message": "slow down"}, headers={"Retry-After": "0"})
    store = make(fake)
    store.upsert("t1", "doc-a", items(2))
    assert store.query("t1", unit(0), k=1)[0].chunk_index == 0
    assert len(fake.requests_to("/query")) == 2


def test_server_errors_that_outlast_the_sdk_retries_are_transient(fake: FakePinecone) -> None:
    fake.fail(
        503,
        times=10,
        path="/vectors/upsert",
        body={"code": 14, "message": "unavailable"},
        headers={"Retry-After": "0"},
    )
    with pytest.raises(TransientAIError):
        make(fake).upsert("t1", "doc-a", items(1))
    assert 1 < len(fake.requests_to("/vectors/upsert")) <= 10


def test_a_wrong_api_key_is_a_permanent_error(fake: FakePinecone) -> None:
    with pytest.raises(PermanentAIError) as caught:
        make(fake, api_key="wrong").query("t1", unit(0), k=1)
    assert caught.value.code == "vector_store_auth"


def test_vectors_of_the_wrong_width_are_rejected_permanently(fake: FakePinecone) -> None:
    with pytest.raises(PermanentAIError):
        make(fake).upsert("t1", "doc-a", [VectorItem(0, [1.0, 0.0], 1, 1, "x")])


def test_verify_reports_an_index_of_another_dimension(fake: FakePinecone) -> None:
    store = make(fake)
    store.verify(DIM)
    with pytest.raises(PermanentAIError) as caught:
        store.verify(384)
    assert caught.value.code == "vector_dimension_mismatch"


def test_get_vector_store_reads_the_pinecone_settings(fake: FakePinecone) -> None:
    settings = load_settings(
        {"AEGIS_VECTOR_STORE": "pinecone", "PINECONE_API_KEY": "pc-test", "AEGIS_PINECONE_HOST": fake.url}
    )
    store = get_vector_store(settings, session_factory=None)  # type: ignore[arg-type]
    assert isinstance(store, PineconeVectorStore)
    store.upsert("t9", "doc-z", items(1))
    assert fake.ids("tenant-t9") == ["doc-z#0"]


def test_pinecone_without_an_api_key_or_an_index_is_refused_when_settings_load() -> None:
    with pytest.raises(SettingsError, match="^PINECONE_API_KEY"):
        load_settings({"AEGIS_VECTOR_STORE": "pinecone"})
    with pytest.raises(SettingsError, match="AEGIS_PINECONE_INDEX or AEGIS_PINECONE_HOST"):
        load_settings({"AEGIS_VECTOR_STORE": "pinecone", "PINECONE_API_KEY": "k"})


def test_a_store_built_by_hand_without_an_api_key_or_an_index_is_a_configuration_error() -> None:
    with pytest.raises(PermanentAIError) as caught:
        PineconeVectorStore(api_key=None, index_name="i")
    assert caught.value.code == "vector_store_config"
    with pytest.raises(PermanentAIError):
        PineconeVectorStore(api_key="k")
