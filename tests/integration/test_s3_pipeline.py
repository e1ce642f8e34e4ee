"""The whole pipeline with blobs in an S3 bucket: PostgreSQL, Redis, celery workers and
a real S3 server (moto's) on a free local port; nothing touches the local storage folder."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.harness import CORPUS, ApiClient, Stack, pick_redis_db, postgres_database, wait_for
from tests.s3server import S3Server
from tests.scans import save_scan_pdf, scan_pages

pytestmark = pytest.mark.integration
PREFIX = "aegis"
PDFS = ("minimal-document.pdf", "002-trivial-libre-office-writer.pdf", "google-doc-document.pdf",
        "multicolumn.pdf", "pdfkit.pdf")


@pytest.fixture(scope="module")
def s3_stack(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, str]]:
    temp_dir = tmp_path_factory.mktemp("aegis-temp")
    redis_url = f"redis://127.0.0.1:6379/{pick_redis_db()}"
    with s3.bucket() as bucket, postgres_database() as database_url:
        stack = Stack(database_url, redis_url, AEGIS_RECONCILE_INTERVAL="5", AEGIS_TEMP_DIR=str(temp_dir),
                      **s3.env(bucket, PREFIX))
        try:
            stack.migrate()
            stack.start_stack()
            yield stack, bucket
        except BaseException:
            print(stack.log_text())
            raise
        finally:
            stack.close()
            redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture()
def api(s3_stack: tuple[Stack, str]) -> ApiClient:
    import uuid

    return ApiClient(s3_stack[0].url, s3_stack[0].create_tenant(f"tenant-{uuid.uuid4().hex[:12]}"))


def _tenant_id(stack: Stack, api: ApiClient) -> str:
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import authenticate

    key = api.session.headers["Authorization"].split(" ", 1)[1]
    with session_scope(stack.settings()) as session:
        return authenticate(session, key).id


def test_corpus_pdfs_succeed_with_blobs_only_in_the_bucket(
    s3_stack: tuple[Stack, str], s3: S3Server, api: ApiClient, tmp_path: Path
) -> None:
    stack, bucket = s3_stack
    scan = save_scan_pdf(tmp_path / "scan.pdf", scan_pages(CORPUS / "pdf" / "minimal-document.pdf", [1]))
    paths = [CORPUS / "pdf" / name for name in PDFS] + [scan]  # the scan goes through OCR's batches
    ids = {path.name: api.upload(path).json()["id"] for path in paths}
    duplicate = api.upload(paths[0], name="again.pdf")
    assert duplicate.status_code == 200 and duplicate.json()["duplicate"] is True
    for name, doc_id in ids.items():
        doc = api.wait(doc_id)
        assert doc["status"] == "succeeded", (name, doc)
    assert api.get(f"/v1/documents/{ids['scan.pdf']}").json()["stages"]["ocr"]["status"] == "succeeded"
    searchable = api.get(f"/v1/documents/{ids['scan.pdf']}/searchable.pdf")
    assert searchable.status_code == 200 and searchable.content.startswith(b"%PDF")

    tenant = _tenant_id(stack, api)
    expected = sorted(
        f"{PREFIX}/{tenant}/{sha[:2]}/{sha}" for sha in (hashlib.sha256(p.read_bytes()).hexdigest() for p in paths)
    )
    mine = [key for key in s3.keys(bucket) if key.startswith(f"{PREFIX}/{tenant}/")]
    assert mine == expected  # one object per distinct file: the duplicate was stored once
    assert not [k for k in s3.keys(bucket) if "/.incoming/" in k] and s3.incomplete_uploads(bucket) == []
    storage = stack.settings().storage_dir
    assert not storage.exists() or not [p for p in storage.rglob("*") if p.is_file()]

    reprocessed = api.session.post(f"{api.base}/v1/documents/{ids['multicolumn.pdf']}/reprocess", timeout=30)
    assert reprocessed.status_code == 202
    assert api.wait(ids["multicolumn.pdf"])["status"] == "succeeded"  # read the same object again

    gone = api.session.delete(f"{api.base}/v1/documents/{ids['pdfkit.pdf']}", timeout=30)
    assert gone.status_code == 204
    pdfkit = hashlib.sha256((CORPUS / "pdf" / "pdfkit.pdf").read_bytes()).hexdigest()
    assert f"{PREFIX}/{tenant}/{pdfkit[:2]}/{pdfkit}" not in s3.keys(bucket)
    assert len([k for k in s3.keys(bucket) if k.startswith(f"{PREFIX}/{tenant}/")]) == len(paths) - 1


def test_documents_queued_while_the_s3_server_is_down_succeed_once_it_returns(
    s3_stack: tuple[Stack, str], s3: S3Server, api: ApiClient
) -> None:
    stack, _bucket = s3_stack
    stack.stop("worker-validate")  # documents are stored, then wait in the queue
    ids = [api.upload(CORPUS / "pdf" / name).json()["id"] for name in PDFS[:3]]
    s3.stop()
    try:
        stack.start_worker("validate")

        def retried() -> bool:
            runs = [api.document(i)["stages"]["validate"] for i in ids]
            return all(run.get("error") and run["error"]["code"] == "storage_unavailable" for run in runs)

        wait_for(retried, 60, message="validate to meet the outage")
        time.sleep(3)  # more retries come and go; none may end a document
        assert {api.document(i)["status"] for i in ids} <= {"queued", "processing"}
        down = api.upload_bytes("during-outage.txt", b"uploaded while the store is down")
        assert down.status_code == 503 and down.json()["code"] == "storage_unavailable"
        assert int(down.headers["Retry-After"]) > 0
    finally:
        s3.start()  # same port, same buckets (moto keeps them in this process)
    for doc_id in ids:
        doc = api.wait(doc_id, timeout=240)
        assert doc["status"] == "succeeded", doc
        assert doc["stages"]["validate"]["attempts"] <= 1, "an outage is not an attempt"
