"""The `aegis` client commands against a running pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.harness import CORPUS, ROOT, Stack

pytestmark = pytest.mark.integration


def _aegis(stack: Stack, key: str, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AEGIS_URL": stack.url, "AEGIS_API_KEY": key, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "aegis.cli", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_upload_wait_reports_the_final_status_of_all_41_corpus_pdfs(stack: Stack) -> None:
    key = stack.create_tenant("cli-bulk")
    pdfs = sorted(str(p) for p in (CORPUS / "pdf").glob("*.pdf"))
    assert len(pdfs) == 41
    done = _aegis(stack, key, "upload", "--wait", "--json", *pdfs)
    results = json.loads(done.stdout)
    assert [r["file"] for r in results] == pdfs
    statuses = {os.path.basename(r["file"]): r["status"] for r in results}
    assert set(statuses.values()) <= {"succeeded", "rejected"}, statuses
    assert statuses["password.pdf"] == "rejected"
    assert done.returncode == 1  # not every document succeeded: the encrypted ones were rejected


def test_upload_prints_a_summary_table_and_status_ls_search_reprocess_rm_work(stack: Stack) -> None:
    key = stack.create_tenant("cli-one")
    pdf = CORPUS / "pdf" / "pdflatex-4-pages.pdf"
    done = _aegis(stack, key, "upload", "--wait", str(pdf))
    assert done.returncode == 0, done.stderr
    assert "pdflatex-4-pages.pdf" in done.stdout and "succeeded" in done.stdout
    listed = json.loads(_aegis(stack, key, "ls", "--json").stdout)["documents"]
    assert [d["filename"] for d in listed] == ["pdflatex-4-pages.pdf"]
    doc_id = listed[0]["id"]
    shown = _aegis(stack, key, "status", doc_id)
    assert "status: succeeded" in shown.stdout and "content" in shown.stdout
    # Words from the text: none of "pdflatex four pages document" is in it, and a search for
    # words in no document finds nothing since the relevance floor (issue 10, item 7).
    found = json.loads(_aegis(stack, key, "search", "--json", "a blind text gives information about the font").stdout)
    assert found["results"] and found["results"][0]["document_id"] == doc_id
    assert json.loads(_aegis(stack, key, "reprocess", "--json", doc_id).stdout)["status"] == "queued"
    assert _aegis(stack, key, "rm", doc_id).returncode == 0
    missing = _aegis(stack, key, "status", doc_id)
    assert missing.returncode == 1 and "not_found" in missing.stderr


def test_client_commands_without_a_key_explain_what_to_set(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AEGIS_API_KEY"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "aegis.cli", "ls", "--url", stack.url], env=env,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "AEGIS_API_KEY" in done.stderr
