"""The web page in a real browser against a real stack.

Debian's Chromium, driven by Playwright, talks to gunicorn serving ``web:create_app()``
with PostgreSQL, Redis and one Celery worker per stage queue: the same pieces
production runs. The test does what a person would: signs in with an API key,
uploads a PDF through the file input, watches the four stages tick to succeeded,
reads the document, searches for a phrase from it, reprocesses and deletes it.

Skipped when ``/usr/bin/chromium`` or the ``playwright`` package is missing. Never
run ``playwright install``: the browser comes from apt. Set
``AEGIS_E2E_SCREENSHOTS=/some/dir`` to keep screenshots of each step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aegis.pipeline.registry import STAGES
from tests.harness import (
    CORPUS,
    REDIS_HOST,
    REDIS_PORT,
    ApiClient,
    Stack,
    pick_redis_db,
    postgres_database,
    wait_for,
)

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect = sync_api.expect

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PDF = CORPUS / "pdf" / "pdflatex-4-pages.pdf"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
]
STAGE_TIMEOUT_MS = 90_000


def start_gateway(stack: Stack) -> str:
    """``Stack.start_gateway`` tolerating a slow first answer.

    The harness polls ``/health`` with a 1 s read timeout and only forgives connection
    errors; gunicorn binds the port before its worker has imported the app (about a
    second, more on a loaded machine), so that first read can time out although
    nothing is wrong. Keep waiting instead of failing the module.
    """
    import requests

    def healthy() -> bool:
        try:
            return requests.get(stack.url + "/health", timeout=5).ok
        except requests.RequestException:
            return False

    try:
        return stack.start_gateway()
    except requests.Timeout:
        wait_for(healthy, 60, message="gateway /health")
        return stack.url


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    import redis

    index = pick_redis_db()
    try:
        with postgres_database() as database_url:
            stack = Stack(database_url, f"redis://{REDIS_HOST}:{REDIS_PORT}/{index}")
            try:
                stack.migrate()
                start_gateway(stack)
                stack.start_workers()
                yield stack
                if globals().get("_failed_tests"):
                    print(stack.log_text())
            except BaseException:
                print(stack.log_text())
                raise
            finally:
                stack.close()
    finally:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index).flushdb()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Shots:
    """Screenshots of each step, kept only when AEGIS_E2E_SCREENSHOTS names a folder."""

    def __init__(self, page: Any) -> None:
        folder = os.environ.get("AEGIS_E2E_SCREENSHOTS")
        self.page = page
        self.folder = Path(folder) if folder else None
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str) -> None:
        if self.folder:
            self.page.screenshot(path=str(self.folder / f"{name}.png"), full_page=True)


@pytest.fixture()
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    """A fresh browser context (its own sessionStorage) that may only talk to the gateway."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.requests = []  # type: ignore[attr-defined]
    page.foreign_requests = []  # type: ignore[attr-defined]
    page.script_errors = []  # type: ignore[attr-defined]

    def seen(request: Any) -> None:
        (page.requests if request.url.startswith(stack.url) else page.foreign_requests).append(request.url)

    page.on("request", seen)
    page.on("pageerror", lambda exc: page.script_errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()


def sign_in(page: Any, key: str) -> None:
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_a_wrong_key_is_refused_with_the_servers_explanation(page: Any, stack: Stack) -> None:
    page.goto(stack.url + "/")
    sign_in(page, "aeg_not-a-real-key")
    expect(page.locator("#signin-error")).to_have_text("The API key is not valid or has been revoked.")
    expect(page.locator("#app")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    assert not page.script_errors and not page.foreign_requests


def test_the_api_docs_page_is_reachable_from_the_page_and_lists_the_endpoints(page: Any, stack: Stack) -> None:
    page.goto(stack.url + "/")
    page.get_by_role("link", name="API docs").click()
    expect(page).to_have_url(stack.url + "/docs")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Aegis API")
    expect(page.locator("#op-uploadDocuments")).to_contain_text("/v1/documents")
    page.get_by_role("link", name="/openapi.json", exact=True).click()
    assert page.evaluate("() => JSON.parse(document.body.innerText).openapi").startswith("3.1")
    page.go_back()
    Shots(page).take("4-docs")
    assert not page.script_errors and not page.foreign_requests


def test_dropping_several_files_uploads_each_and_says_when_bytes_were_already_uploaded(
    page: Any, stack: Stack
) -> None:
    # Without EventSource the page must follow documents by polling alone.
    page.add_init_script("delete window.EventSource")
    page.goto(stack.url + "/")
    sign_in(page, stack.create_tenant("web-ui-drop"))
    expect(page.locator("#app")).to_be_visible()
    drop_files = """names => {
        const transfer = new DataTransfer();
        for (const name of names) {
            const text = `Minutes of the ${name} meeting. The committee approved the budget for the harbour.`;
            transfer.items.add(new File([text], name, {type: "text/plain"}));
        }
        return transfer;
    }"""
    transfer = page.evaluate_handle(drop_files, ["alpha.txt", "beta.txt"])
    page.dispatch_event("#dropzone", "dragenter", {"dataTransfer": transfer})
    expect(page.locator("#dropzone")).to_have_class(re.compile(r"\bdragging\b"))
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    expect(page.locator("#dropzone")).not_to_have_class(re.compile(r"\bdragging\b"))
    for name in ("alpha.txt", "beta.txt"):
        row = page.locator("#documents-body tr", has_text=name)
        expect(row.locator(".doc-status .pill")).to_have_text("succeeded", timeout=STAGE_TIMEOUT_MS)

    page.dispatch_event("#dropzone", "drop", {"dataTransfer": page.evaluate_handle(drop_files, ["alpha.txt"])})
    expect(page.locator("#uploads li").first).to_contain_text("already uploaded")
    expect(page.locator("#documents-body tr")).to_have_count(2)
    assert not [url for url in page.requests if "/events" in url]
    assert not page.script_errors and not page.foreign_requests


def test_upload_follow_read_search_reprocess_and_delete_a_pdf(page: Any, stack: Stack) -> None:
    key = stack.create_tenant("web-ui")
    api = ApiClient(stack.url, key)
    shots = Shots(page)
    page.on("dialog", lambda dialog: dialog.accept())  # the delete confirmation

    page.goto(stack.url + "/")
    sign_in(page, key)
    expect(page.locator("#app")).to_be_visible()
    expect(page.locator("#documents-empty")).to_be_visible()
    # The key is in this tab's sessionStorage only: no cookie, nothing persistent.
    assert page.evaluate("sessionStorage.getItem('aegis.apiKey')") == key
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []

    page.get_by_label("or choose files").set_input_files(str(PDF))
    row = page.locator("#documents-body tr", has_text=PDF.name)
    expect(row).to_have_count(1)
    # The upload's own progress bar filled up (bytes sent, before the stages).
    expect(page.get_by_role("progressbar", name=f"Upload of {PDF.name}")).to_have_attribute("value", "100")
    for stage in STAGES:
        expect(row.locator(f'td[data-stage="{stage}"] .pill')).to_have_text(
            _final(stage), timeout=STAGE_TIMEOUT_MS
        )
    expect(row.locator(".doc-status .pill")).to_have_text("succeeded")
    expect(page.locator("#announcer")).to_have_text(f"{PDF.name} is ready")
    shots.take("1-list")

    document_id = row.get_attribute("data-id")
    # Followed live: EventSource cannot send headers, so the key rides in the query.
    assert f"/v1/documents/{document_id}/events?key=" in " ".join(page.requests)
    doc = api.document(document_id)
    content = api.get(f"/v1/documents/{document_id}/content").json()
    assert doc["status"] == "succeeded" and doc["ai"]["summary"]

    row.get_by_role("link", name=f"Open {PDF.name}").click()
    detail = page.locator("#detail")
    expect(page.locator("#detail-title")).to_have_text(PDF.name)
    expect(page.locator("#detail-title")).to_be_focused()
    expect(detail.locator(".summary-text")).to_have_text(doc["ai"]["summary"])
    for keyword in doc["ai"]["keywords"][:3]:
        expect(detail.locator(".keywords")).to_contain_text(keyword)
    expect(detail.locator("#detail-metadata")).to_contain_text("pages")
    expect(detail.locator("#detail-pages .page")).to_have_count(len(content["pages"]))
    first_line = content["pages"][0]["text"].strip().splitlines()[0].strip()
    expect(detail.locator("#detail-pages .page-text").first).to_contain_text(first_line)
    for stage in STAGES:
        expect(detail.locator(f'#detail-stages tr[data-stage="{stage}"] .pill')).to_have_text(_final(stage))
    expect(page.locator("#detail-error")).to_be_hidden()
    shots.take("2-document")

    search_served = api.get("/v1/search?q=probe").status_code != 404
    if search_served:
        phrase = " ".join(content["chunks"][0]["text"].split()[:8])
        page.get_by_label("Search documents").fill(phrase)
        page.get_by_label("Search documents").press("Enter")
        expect(page.locator("#search-status")).to_contain_text("result")
        expect(page.locator("#search-results li").first).to_contain_text(PDF.name)
        shots.take("3-search")

    page.get_by_role("link", name="Back to list").click()
    expect(row).to_be_visible()
    finished_before = doc["stages"]["ai"]["finished_at"]
    row.get_by_role("button", name=f"Reprocess {PDF.name}").click()
    expect(page.locator("#announcer")).to_have_text(f"{PDF.name} is being processed again.")
    try:
        wait_for(lambda: api.document(document_id)["stages"]["ai"]["finished_at"] not in (None, finished_before),
                 STAGE_TIMEOUT_MS / 1000, message="the reprocessed ai stage to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the document now: {api.document(document_id)}") from None
    expect(page.locator("#announcer")).to_have_text(f"{PDF.name} is ready")
    for stage in STAGES:
        expect(row.locator(f'td[data-stage="{stage}"] .pill')).to_have_text(_final(stage))

    row.get_by_role("button", name=f"Delete {PDF.name}").click()
    expect(row).to_have_count(0)
    expect(page.locator("#documents-empty")).to_be_visible()
    assert api.get(f"/v1/documents/{document_id}").status_code == 404

    assert not page.script_errors, page.script_errors
    assert not page.foreign_requests, page.foreign_requests
    if not search_served:
        pytest.skip("GET /v1/search is not served yet; the search step was left out")


def _final(stage: str) -> str:
    """How each stage ends for a born-digital PDF: OCR has nothing to read."""
    return "skipped" if stage == "ocr" else "succeeded"


def test_a_rejected_file_is_called_rejected_again_and_cannot_be_reprocessed(page: Any, stack: Stack) -> None:
    """Issue 10, item 8: re-uploading a rejected file said only "already uploaded"; Reprocess was offered."""
    page.goto(stack.url + "/")
    sign_in(page, stack.create_tenant("web-ui-rejected"))
    expect(page.locator("#app")).to_be_visible()
    drop_fake_pdf = """() => {
        const transfer = new DataTransfer();
        transfer.items.add(new File(["This is plain text that only claims to be a PDF."], "claims.pdf",
                                    {type: "application/pdf"}));
        return transfer;
    }"""
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": page.evaluate_handle(drop_fake_pdf)})
    row = page.locator("#documents-body tr", has_text="claims.pdf")
    expect(row.locator(".doc-status .pill")).to_have_text("rejected", timeout=STAGE_TIMEOUT_MS)
    expect(row.get_by_role("button", name="Reprocess claims.pdf")).to_be_hidden()
    expect(row.get_by_role("button", name="Delete claims.pdf")).to_be_visible()

    page.dispatch_event("#dropzone", "drop", {"dataTransfer": page.evaluate_handle(drop_fake_pdf)})
    expect(page.locator("#uploads li").first).to_contain_text("already uploaded and rejected")

    row.get_by_role("link", name="Open claims.pdf").click()
    expect(page.locator("#detail-title")).to_have_text("claims.pdf")
    expect(page.locator("#detail-reprocess")).to_be_hidden()
    assert not page.script_errors


def test_long_mime_types_stay_on_one_line_and_words_do_not_break_on_a_phone(
    browser: Any, stack: Stack
) -> None:
    """Issue 10, item 8: a DOCX's 71-character MIME type wrapped its cell to eight lines."""
    docx = CORPUS / "office" / "handbook-1p-no-rendered-page-breaks.docx"
    key = stack.create_tenant("web-ui-phone")
    api = ApiClient(stack.url, key)
    doc = api.upload(docx).json()
    api.wait(doc["id"], timeout=STAGE_TIMEOUT_MS / 1000)
    full = api.document(doc["id"])["mime"]
    assert full and len(full) > 40, full

    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(stack.url + "/")
        sign_in(page, key)
        row = page.locator("#documents-body tr", has_text=docx.name)
        mime = row.locator(".mime")
        expect(mime).to_have_attribute("title", full)
        expect(mime).to_have_text("Word (DOCX)")
        line_height = float(mime.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20"))
        assert mime.bounding_box()["height"] <= line_height * 1.5, "one line, not eight"
        # Ordinary words never break mid-word: no rule says overflow-wrap: anywhere.
        anywhere = page.evaluate(
            "[...document.querySelectorAll('*')].filter(e => getComputedStyle(e).overflowWrap === 'anywhere').length"
        )
        assert anywhere == 0
        assert page.evaluate("getComputedStyle(document.querySelector('main')).hyphens") == "auto"
    finally:
        context.close()


def test_a_read_key_is_told_what_it_may_do_and_sees_no_upload_or_delete(page: Any, stack: Stack) -> None:
    from aegis.persistence.db import session_scope
    from aegis.services.tenants import create_key

    name = "e2e-read-scope"
    writer = ApiClient(stack.url, stack.create_tenant(name))
    doc = writer.upload_bytes("note.txt", b"a note a read key may read\n").json()
    with session_scope(stack.settings()) as session:
        reader = create_key(session, name, "read").api_key
    page.goto(stack.url + "/")
    sign_in(page, reader)
    expect(page.locator("#key-scope")).to_contain_text("read key")
    expect(page.locator("#key-scope")).to_contain_text("need a write key")
    expect(page.get_by_role("heading", name="Upload")).to_be_hidden()
    row = page.locator("#documents-body tr", has_text="note.txt")
    expect(row).to_be_visible()
    expect(row.get_by_role("button", name=re.compile("Delete"))).to_be_hidden()
    assert writer.get(f"/v1/documents/{doc['id']}").status_code == 200
