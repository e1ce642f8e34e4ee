"""``GET /v1/search`` on the local provider and the local vector store (the app's own)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

Problem = Callable[[TestResponse, int, str], dict[str, Any]]
Upload = Callable[..., TestResponse]
Index = Callable[[str, list[str]], None]

PAGES = [
    "Invoice number 1042: payment due within thirty days to the supplier.",
    "The tenancy contract ends in March; the landlord keeps the deposit.",
    "Photosynthesis converts light into chemical energy inside the leaves of plants.",
]


@pytest.fixture()
def indexed(upload: Upload, index_text: Index) -> str:
    document_id: str = upload(b"three pages", "mixed.pdf").get_json()["id"]
    index_text(document_id, PAGES)
    return document_id


def test_search_with_nothing_indexed_finds_nothing(auth_client: FlaskClient) -> None:
    assert auth_client.get("/v1/search?q=invoice").get_json() == {"query": "invoice", "results": []}


def test_search_ranks_the_matching_chunk_first(auth_client: FlaskClient, indexed: str) -> None:
    results = auth_client.get("/v1/search?q=photosynthesis in plant leaves&k=3").get_json()["results"]
    assert 1 <= len(results) <= 3
    best = results[0]
    assert best["document_id"] == indexed
    assert best["filename"] == "mixed.pdf"
    assert (best["page_start"], best["page_end"]) == (3, 3)
    assert best["text"] == PAGES[2]
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)


def test_k_bounds_the_number_of_results(auth_client: FlaskClient, indexed: str) -> None:
    assert len(auth_client.get("/v1/search?q=contract invoice energy&k=1").get_json()["results"]) == 1


def test_search_can_be_limited_to_one_document(
    auth_client: FlaskClient, indexed: str, upload: Upload, index_text: Index
) -> None:
    other = upload(b"another").get_json()["id"]
    index_text(other, ["Photosynthesis again, in algae this time."])
    results = auth_client.get(f"/v1/search?q=photosynthesis&document_id={other}").get_json()["results"]
    assert {r["document_id"] for r in results} == {other}


def test_search_never_returns_another_tenants_chunks(other_client: FlaskClient, indexed: str) -> None:
    assert other_client.get("/v1/search?q=photosynthesis").get_json()["results"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "missing_query"), ("q=", "missing_query"), ("q=%20%20", "missing_query"),
     ("q=x&k=many", "invalid_k"), ("q=x&k=0", "invalid_k"), ("q=x&k=101", "invalid_k")],
)
def test_bad_search_parameters_are_400(auth_client: FlaskClient, problem: Problem, query: str, code: str) -> None:
    problem(auth_client.get(f"/v1/search?{query}"), 400, code)
