"""The stage registry is the one declaration of the pipeline: a throw-away stage added
to a test registry is picked up by task registration, routing, the chain, the runner
and the reconciler without touching any other code."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from sqlalchemy.orm import Session

from aegis.config import Settings, load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.models import Document, utcnow
from aegis.pipeline import chain, reconciler, routing
from aegis.pipeline.registry import REGISTRY, STAGES, Registry, StageSpec
from aegis.pipeline.runner import Outcome, execute
from aegis.pipeline.stage import DocumentView, FileStage
from tests.unit.pipeline_helpers import stored_document

SEEN: list[str] = []


class ShoutStage(FileStage[str]):
    """Upper-cases the document's filename into its metadata."""

    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: None) -> str:
        SEEN.append(doc.id)
        return doc.filename.upper()

    def save(self, session: Session, document: Document, result: str) -> None:
        document.doc_metadata = {**(document.doc_metadata or {}), "shout": result}


def _with_shout() -> Registry:
    """The real stages with ``shout`` between ``content`` and ``ai``."""
    specs = list(REGISTRY)
    at = STAGES.index("content") + 1
    specs.insert(at, StageSpec("shout", time_limit=7, parses_untrusted=False, factory=ShoutStage))
    return Registry(specs)


@pytest.fixture()
def registry() -> Registry:
    return _with_shout()


@pytest.fixture()
def settings(tmp_path: Path) -> Iterator[Settings]:
    s = load_settings({"AEGIS_DATA_DIR": str(tmp_path)})
    s = dataclasses.replace(s, time_limits={**s.time_limits, "shout": 7})
    migrate.upgrade(s)
    yield s
    dispose_engines()


def test_the_registry_declares_the_stages_in_pipeline_order() -> None:
    assert STAGES == ("validate", "metadata", "content", "ocr", "ai")
    assert [s.queue for s in REGISTRY] == list(STAGES)
    assert [s.name for s in REGISTRY if s.parses_untrusted] == ["validate", "metadata", "content", "ocr"]
    assert [s.name for s in REGISTRY if s.fans_out] == ["ocr"]
    assert REGISTRY.next("content") == "ocr" and REGISTRY.next("ai") is None
    with pytest.raises(KeyError, match="unknown stage"):
        REGISTRY.get("nope")


def test_duplicate_stage_names_are_refused() -> None:
    spec = REGISTRY.first
    with pytest.raises(ValueError, match="unique"):
        Registry([spec, spec])


def test_a_new_stage_gets_a_celery_task_on_its_own_queue(registry: Registry) -> None:
    from tasks.stages import register

    app = Celery("registry-test")
    tasks = register(app, registry)
    assert set(tasks) == set(registry.names) | {"ocr.batch"}
    assert "aegis.shout" in app.tasks
    routes = routing.task_routes(registry)
    assert routes["aegis.shout"] == {"queue": "shout", "routing_key": "shout"}
    assert [q.name for q in routing.task_queues(registry)] == ["validate", "metadata", "content", "shout", "ocr", "ai"]


def test_the_chain_runs_through_the_new_stage(registry: Registry) -> None:
    app = Celery("registry-test")
    signature = chain.build_chain(app, "doc", "token", registry=registry)
    assert [(t.task, t.options["queue"]) for t in signature.tasks] == [
        ("aegis.validate", "validate"), ("aegis.metadata", "metadata"), ("aegis.content", "content"),
        ("aegis.shout", "shout"), ("aegis.ocr", "ocr"), ("aegis.ai", "ai"),
    ]
    resumed = chain.build_chain(app, "doc", "token", start="shout", registry=registry)
    assert [t.task for t in resumed.tasks] == ["aegis.shout", "aegis.ocr", "aegis.ai"]


def _upload(settings: Settings, registry: Registry) -> tuple[str, str]:
    data = b"A short note about registries and stages. " * 10
    return stored_document(settings, data, "note.txt", registry)


def test_the_runner_runs_the_new_stage_in_its_place(settings: Settings, registry: Registry) -> None:
    doc_id, token = _upload(settings, registry)
    for stage in ("validate", "metadata", "content"):
        assert execute(settings, stage, doc_id, token, task_id="t", worker="w", registry=registry) is Outcome.SUCCEEDED
    with session_scope(settings) as session:
        assert session.get(Document, doc_id).stage == "shout"
    assert execute(settings, "shout", doc_id, token, task_id="t", worker="w", registry=registry) is Outcome.SUCCEEDED
    assert doc_id in SEEN
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        assert (doc.stage, doc.doc_metadata["shout"]) == ("ocr", "NOTE.TXT")
        assert list(chain.describe_runs(doc, registry)) == list(registry.names)


def test_the_reconciler_redispatches_a_document_stuck_in_the_new_stage(
    settings: Settings, registry: Registry
) -> None:
    doc_id, _token = _upload(settings, registry)
    with session_scope(settings) as session:
        doc = session.get(Document, doc_id)
        doc.stage, doc.status = "shout", "processing"
        # Past shout's 7 s limit (+5 s margin), well within every real stage's limit.
        doc.progress_at = utcnow() - timedelta(seconds=20)
    with session_scope(settings) as session:
        actions = reconciler.reconcile(session, settings, registry=registry)
    assert [(a.document_id, a.stage, a.action) for a in actions] == [(doc_id, "shout", "redispatch")]
