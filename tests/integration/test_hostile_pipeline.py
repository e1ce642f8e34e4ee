"""Hostile files through the real workers: each ends with its expected outcome,
and the same workers then still process a normal PDF."""

from __future__ import annotations

import pytest

from tests.harness import CORPUS, ApiClient, Stack
from tests.hostile_inputs import CASES, OK

pytestmark = pytest.mark.integration


def test_hostile_inputs_end_with_their_expected_code_and_workers_keep_serving(
    api: ApiClient, stack: Stack
) -> None:
    uploaded: dict[str, tuple[ApiClient, str, frozenset[str]]] = {}
    for name, make in CASES.items():
        filename, data, expected = make()
        # A tenant per case: several cases share bytes under different names, and
        # within one tenant the second upload would only be a duplicate.
        client = ApiClient(stack.url, stack.create_tenant(f"hostile-{name}"))
        response = client.upload_bytes(filename, data)
        assert response.status_code == 202, (name, response.text)
        uploaded[name] = (client, response.json()["id"], expected)
    limits = stack.settings().time_limits
    budget = sum(limits.values())
    problems = []
    for name, (client, doc_id, expected) in uploaded.items():
        doc = client.wait(doc_id, timeout=budget)
        if doc["status"] == "succeeded":
            outcome = OK
        else:
            assert doc["status"] in ("rejected", "failed"), (name, doc["status"])
            assert doc["error"]["message"], name
            outcome = doc["error"]["code"]
        if outcome not in expected:
            problems.append((name, outcome, sorted(expected)))
    assert not problems, problems

    # Every hostile document has ended, so the workers are idle: a normal PDF succeeding
    # (within the wait's generous bound, not a timed assertion) shows none was left wedged.
    doc = api.wait(api.upload(CORPUS / "pdf" / "google-doc-document.pdf").json()["id"], timeout=120)
    assert doc["status"] == "succeeded", doc
    assert {run["status"] for run in doc["stages"].values()} <= {"succeeded", "skipped"}, doc["stages"]
