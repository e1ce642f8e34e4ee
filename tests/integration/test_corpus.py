"""The whole shared corpus through the real pipeline: every file ends `succeeded`, or
`rejected` with a code that names the reason. Never `failed`, never an internal error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from aegis.vocabulary import ERRORS, ErrorKind
from tests.harness import CORPUS, ApiClient, Stack

pytestmark = pytest.mark.integration

FAMILIES = ("pdf", "office", "email", "text")
# Codes that say what is wrong with a file (not that something broke on our side).
FILE_CODES = {str(code) for code, info in ERRORS.items() if info.kind is ErrorKind.REJECTED}


def test_every_corpus_file_ends_succeeded_or_rejected_with_a_reason(stack: Stack) -> None:
    api = ApiClient(stack.url, stack.create_tenant("corpus-walk"))
    files = sorted(p for family in FAMILIES for p in (CORPUS / family).iterdir() if p.is_file())
    assert len(files) > 150
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(api.upload, files))
    ids: dict[str, str] = {}
    for path, response in zip(files, responses, strict=True):
        assert response.status_code in (200, 202), (path.name, response.text)
        ids[f"{path.parent.name}/{path.name}"] = response.json()["id"]
    outcomes = {name: api.wait(doc_id, timeout=600) for name, doc_id in ids.items()}
    bad = {
        name: (doc["status"], doc["error"])
        for name, doc in outcomes.items()
        if doc["status"] != "succeeded" and (doc["status"] != "rejected" or doc["error"]["code"] not in FILE_CODES)
    }
    assert not bad, bad
    succeeded = sum(1 for doc in outcomes.values() if doc["status"] == "succeeded")
    assert succeeded / len(outcomes) > 0.8
