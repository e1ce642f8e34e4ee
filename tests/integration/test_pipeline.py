"""End to end through the real gateway, Redis, PostgreSQL and four Celery workers."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import pytest

from aegis.pipeline.registry import STAGES
from tests.harness import CORPUS, ApiClient, Stack

pytestmark = pytest.mark.integration

PDFS = sorted((CORPUS / "pdf").glob("*.pdf"))
ENCRYPTED = {"password.pdf", "libreoffice-writer-password.pdf"}


def test_a_pdf_passes_every_stage_with_timings_metadata_content_and_ai(api: ApiClient) -> None:
    response = api.upload(CORPUS / "pdf" / "pdflatex-4-pages.pdf")
    assert response.status_code == 202, response.text
    assert response.headers["Location"].endswith(response.json()["id"])
    doc = api.wait(response.json()["id"])
    assert doc["status"] == "succeeded", doc
    assert list(doc["stages"]) == list(STAGES)
    for stage in STAGES:
        run = doc["stages"][stage]
        # A born-digital PDF has a text layer on every page: nothing to OCR.
        assert run["status"] == ("skipped" if stage == "ocr" else "succeeded"), stage
        assert run["attempts"] == 1
        assert run["duration_ms"] is not None and run["started_at"] and run["finished_at"]
    metadata = doc["metadata"]
    assert metadata["pages"] == 4
    assert metadata["encrypted"] is False
    assert metadata["ocr"] == {"pages": 0}
    for key in ("title", "author", "producer", "creator", "created_at"):
        assert key in metadata
    assert doc["mime"] == "application/pdf"
    content = api.get(f"/v1/documents/{doc['id']}/content").json()
    assert [p["number"] for p in content["pages"]] == [1, 2, 3, 4]
    assert all(p["text"].strip() for p in content["pages"])
    assert content["chunks"] and content["chunks"][0]["page_start"] == 1
    ai = doc["ai"]
    assert ai["summary"] and ai["keywords"] and ai["chunks"] == len(content["chunks"])


def test_the_same_bytes_again_return_the_existing_document(api: ApiClient) -> None:
    first = api.upload(CORPUS / "pdf" / "minimal-document.pdf")
    second = api.upload(CORPUS / "pdf" / "minimal-document.pdf", name="renamed.pdf")
    assert first.status_code in (200, 202)
    assert second.status_code == 200
    assert second.json()["duplicate"] is True
    assert second.json()["id"] == first.json()["id"]


def test_every_corpus_pdf_ends_succeeded_or_rejected_with_a_code(api: ApiClient) -> None:
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(api.upload, PDFS))
    ids = {path.name: r.json()["id"] for path, r in zip(PDFS, responses, strict=False)}
    outcomes = {name: api.wait(doc_id, timeout=300) for name, doc_id in ids.items()}
    for name, doc in outcomes.items():
        assert doc["status"] in ("succeeded", "rejected"), (name, doc["status"], doc["error"])
        if doc["status"] == "rejected":
            assert doc["error"]["code"] and doc["error"]["message"], name
    for name in ENCRYPTED:
        assert outcomes[name]["status"] == "rejected"
        assert outcomes[name]["error"]["code"] == "encrypted"


def test_text_and_docx_samples_end_succeeded_or_rejected_with_a_code(api: ApiClient) -> None:
    rng = random.Random(7)
    texts = sorted((CORPUS / "text").iterdir())
    sample = rng.sample(texts, 12) + sorted((CORPUS / "office").glob("*.docx"))[:6]
    ids = {p.name: api.upload(p).json()["id"] for p in sample}
    for name, doc_id in ids.items():
        doc = api.wait(doc_id, timeout=120)
        assert doc["status"] in ("succeeded", "rejected"), (name, doc["status"], doc["error"])
        if doc["status"] == "rejected":
            assert doc["error"]["code"] != "internal_error", name


def test_an_empty_file_is_rejected_with_empty_file(api: ApiClient) -> None:
    doc = api.wait(api.upload_bytes("nothing.txt", b"").json()["id"])
    assert doc["status"] == "rejected"
    assert doc["error"]["code"] == "empty_file"


def test_another_tenant_gets_404_and_a_wrong_key_gets_401(api: ApiClient, stack: Stack) -> None:
    doc_id = api.upload(CORPUS / "pdf" / "annotated_pdf.pdf").json()["id"]
    other = ApiClient(stack.url, stack.create_tenant("tenant-b"))
    for path in (f"/v1/documents/{doc_id}", f"/v1/documents/{doc_id}/content"):
        response = other.get(path)
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["code"] == "not_found"
    assert doc_id not in [d["id"] for d in other.get("/v1/documents").json()["documents"]]
    wrong = ApiClient(stack.url, "aeg_not-a-real-key")
    response = wrong.get(f"/v1/documents/{doc_id}")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
    assert ApiClient(stack.url, "").get("/v1/documents").status_code == 401


def test_an_upload_over_the_size_limit_gets_413(stack: Stack, api: ApiClient) -> None:
    limit = stack.settings().max_upload_bytes
    response = api.upload_bytes("big.txt", b"a" * (limit + 128 * 1024))
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_listing_is_newest_first_with_a_cursor_and_a_status_filter(api: ApiClient) -> None:
    for i in range(4):
        api.upload_bytes(f"note-{i}.txt", f"note number {i} for the listing test".encode())
    api.wait(api.upload_bytes("empty.txt", b"").json()["id"])
    first_page = api.get("/v1/documents?limit=2").json()
    assert len(first_page["documents"]) == 2
    second_page = api.get(f"/v1/documents?limit=2&cursor={first_page['next_cursor']}").json()
    ids_1 = [d["id"] for d in first_page["documents"]]
    ids_2 = [d["id"] for d in second_page["documents"]]
    assert not set(ids_1) & set(ids_2)
    created = [d["created_at"] for d in first_page["documents"] + second_page["documents"]]
    assert created == sorted(created, reverse=True)
    rejected = api.get("/v1/documents?status=rejected").json()["documents"]
    assert rejected and all(d["status"] == "rejected" for d in rejected)
    assert api.get("/v1/documents?status=nope").json()["code"] == "invalid_status"
    assert api.get("/v1/documents?cursor=garbage").json()["code"] == "invalid_cursor"


def test_reprocess_runs_the_stages_again_without_duplicating_outputs(api: ApiClient) -> None:
    doc_id = api.upload(CORPUS / "pdf" / "pdflatex-outline.pdf").json()["id"]
    before = api.wait(doc_id)
    content_before = api.get(f"/v1/documents/{doc_id}/content").json()
    response = api.session.post(f"{api.base}/v1/documents/{doc_id}/reprocess")
    assert response.status_code == 202
    after = api.wait(doc_id)
    assert after["status"] == "succeeded"
    assert after["stages"]["content"]["finished_at"] > before["stages"]["content"]["finished_at"]
    assert api.get(f"/v1/documents/{doc_id}/content").json() == content_before


def test_delete_removes_the_document(api: ApiClient) -> None:
    doc_id = api.upload(CORPUS / "pdf" / "pdfkit.pdf").json()["id"]
    api.wait(doc_id)
    assert api.session.delete(f"{api.base}/v1/documents/{doc_id}").status_code == 204
    assert api.get(f"/v1/documents/{doc_id}").status_code == 404
    assert api.get(f"/v1/documents/{doc_id}/content").status_code == 404


def test_health_and_ready_report_ok(stack: Stack) -> None:
    import requests

    assert requests.get(stack.url + "/health", timeout=5).json()["status"] == "ok"
    ready = requests.get(stack.url + "/ready", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_search_finds_a_document_by_a_sentence_from_it_and_never_another_tenants(
    api: ApiClient, stack: Stack
) -> None:
    for other_pdf in ("multi-column-2p.pdf", "pdflatex-4-pages.pdf", "google-doc-document.pdf"):
        api.wait(api.upload(CORPUS / "pdf" / other_pdf).json()["id"])
    doc_id = api.upload(CORPUS / "pdf" / "multicolumn.pdf").json()["id"]
    api.wait(doc_id)
    # A long line from the middle of the first page: specific to this document.
    lines = api.get(f"/v1/documents/{doc_id}/content").json()["pages"][0]["text"].split("\n")
    sentence = max(lines, key=len)
    results = api.session.get(f"{api.base}/v1/search", params={"q": sentence, "k": 3}).json()["results"]
    assert doc_id in [r["document_id"] for r in results]
    assert set(results[0]) == {"document_id", "filename", "page_start", "page_end", "score", "text"}
    other = ApiClient(stack.url, stack.create_tenant("tenant-c"))
    assert other.session.get(f"{api.base}/v1/search", params={"q": sentence}).json()["results"] == []
    assert api.get("/v1/search").json()["code"] == "missing_query"


def test_an_encrypted_pdf_opens_with_its_password_which_is_never_stored(api: ApiClient, stack: Stack) -> None:
    wrong = api.upload(CORPUS / "pdf" / "password.pdf", password="wrong-pw-7f3a")
    assert wrong.status_code == 422
    assert wrong.json()["code"] == "wrong_password"
    response = api.upload(CORPUS / "pdf" / "password.pdf", password="password")
    assert response.status_code == 202, response.text
    doc = api.wait(response.json()["id"])
    assert doc["status"] == "succeeded", doc["error"]
    assert doc["metadata"]["encrypted"] is True
    assert api.get(f"/v1/documents/{doc['id']}/content").json()["pages"][0]["text"].strip()
    from sqlalchemy import text

    from aegis.persistence.db import session_scope

    # The server saw this password; it must not be in any row or log line.
    with session_scope(stack.settings()) as session:
        rows = [session.execute(text(f"SELECT CAST(t.* AS TEXT) FROM {table} t")).scalars().all()
                for table in ("documents", "stage_runs", "pages", "tenants")]
    assert not any("wrong-pw-7f3a" in row for table in rows for row in table)
    assert all("wrong-pw-7f3a" not in log.read_text() for log in stack.logs.values())


def test_a_failed_multi_file_upload_keeps_no_rows_and_no_blobs(api: ApiClient, stack: Stack) -> None:
    with open(CORPUS / "pdf" / "minimal-document.pdf", "rb") as plain, \
            open(CORPUS / "pdf" / "password.pdf", "rb") as locked:
        response = api.session.post(
            f"{api.base}/v1/documents",
            files=[("file", ("plain.pdf", plain)), ("file", ("locked.pdf", locked))],
            data={"password": "wrong-password"},
            timeout=60,
        )
    assert response.status_code == 422
    assert api.get("/v1/documents").json()["documents"] == []
    storage = stack.settings().storage_dir
    assert not [p for p in (storage / _tenant(stack, api)).rglob("*") if p.is_file()]
    assert not list((storage / ".incoming").iterdir())


def _tenant(stack: Stack, api: ApiClient) -> str:
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import authenticate

    key = api.session.headers["Authorization"].split(" ", 1)[1]
    with session_scope(stack.settings()) as session:
        return authenticate(session, key).id
