"""The gateway under Flask's test client, in the style of Flask's tutorial ``tests/conftest.py``.

No server process, Redis or PostgreSQL: the app runs on a SQLite file and the
embedded (filesystem) broker, both under ``tmp_path``, with the local AI provider
and the local vector store. Uploads are published to the broker folder and nothing
consumes them, so an accepted document stays ``queued``, which is what the
gateway alone is responsible for.

Migrating a fresh SQLite database takes longer than most tests, so the session
migrates one template and every test starts from a copy of that file.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from aegis.ai.types import VectorItem
from aegis.config import Settings, load_settings
from aegis.persistence.db import dispose_engines, session_scope
from aegis.persistence.migrate import upgrade
from aegis.persistence.models import Chunk, PageText
from aegis.services.tenants import IssuedKey, create_tenant
from web import context, create_app
from web.context import Services

AppFactory = Callable[..., Flask]
Upload = Callable[..., TestResponse]


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the head revision, migrated once per test session."""
    data_dir = tmp_path_factory.mktemp("template")
    upgrade(load_settings({"AEGIS_DATA_DIR": str(data_dir)}))
    dispose_engines()
    database = data_dir / "aegis.db"
    assert not (data_dir / "aegis.db-wal").exists(), "the template must be a single, checkpointed file"
    return database


def unit_settings(data_dir: Path, **env: str) -> Settings:
    """Settings for a unit-test app: everything embedded, under ``data_dir``."""
    return load_settings(
        {
            "AEGIS_DATA_DIR": str(data_dir),
            "AEGIS_AI_PROVIDER": "local",
            "AEGIS_VECTOR_STORE": "local",
            "AEGIS_LOG_JSON": "false",
            "AEGIS_LOG_LEVEL": "WARNING",
            **env,
        }
    )


def embedded_celery(settings: Settings) -> Celery:
    """A publish-only Celery app on the filesystem broker in ``settings.data_dir``.

    Built here rather than imported from ``tasks.app``: that app reads its broker
    from the process environment when first imported, and a test must not write
    into the user's real data directory.
    """
    folder = settings.broker_folder()
    for sub in ("queue", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    app = Celery("aegis-gateway-tests", set_as_current=False)
    app.conf.update(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
        },
        broker_connection_timeout=3,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
    )
    return app


@pytest.fixture()
def make_app(tmp_path: Path, migrated_template: Path) -> Iterator[AppFactory]:
    """Build an app with extra ``AEGIS_*`` settings, e.g. ``make_app(AEGIS_MAX_UPLOAD_BYTES="100")``."""
    celery_apps: list[Celery] = []

    def build(**env: str) -> Flask:
        data_dir = tmp_path / f"data{len(celery_apps)}"
        data_dir.mkdir()
        shutil.copyfile(migrated_template, data_dir / "aegis.db")
        settings = unit_settings(data_dir, **env)
        celery = embedded_celery(settings)
        celery_apps.append(celery)
        app = create_app(settings, celery=celery)
        app.config.update(TESTING=True)
        return app

    yield build
    for celery in celery_apps:
        celery.close()
    dispose_engines()


@pytest.fixture()
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture()
def services(app: Flask) -> Services:
    """What the app factory built: the tests look at the same store and broker the views use."""
    with app.app_context():
        return context.services()


@pytest.fixture()
def settings(services: Services) -> Settings:
    return services.settings


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def new_tenant(settings: Settings, name: str) -> IssuedKey:
    """A tenant and its API key, created the way ``aegis tenants create`` does."""
    with session_scope(settings) as session:
        return create_tenant(session, name)


def authorised(app: Flask, key: str) -> FlaskClient:
    """A test client that sends ``Authorization: Bearer <key>`` on every request."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@pytest.fixture()
def tenant(settings: Settings) -> IssuedKey:
    return new_tenant(settings, "acme")


@pytest.fixture()
def db(settings: Settings) -> Callable[[], AbstractContextManager[Session]]:
    """``with db() as session:`` a committed transaction on the app's database, for arranging rows."""
    return lambda: session_scope(settings)


@pytest.fixture()
def auth_headers(tenant: IssuedKey) -> dict[str, str]:
    return {"Authorization": f"Bearer {tenant.api_key}"}


@pytest.fixture()
def tenant_client() -> Callable[[Flask, str], FlaskClient]:
    """An authorised client of a new tenant on any app, e.g. one built with ``make_app(...)``."""

    def build(app: Flask, name: str = "initech") -> FlaskClient:
        with app.app_context():
            key = new_tenant(context.settings(), name).api_key
        return authorised(app, key)

    return build


@pytest.fixture()
def auth_client(app: Flask, tenant: IssuedKey) -> FlaskClient:
    return authorised(app, tenant.api_key)


@pytest.fixture()
def other_client(app: Flask, settings: Settings) -> FlaskClient:
    """A second tenant's client: its view of the first tenant's documents is a 404."""
    return authorised(app, new_tenant(settings, "globex").api_key)


@pytest.fixture()
def upload(auth_client: FlaskClient) -> Upload:
    """POST files to ``/v1/documents``: ``upload(b"...", name="a.txt", password=...)``.

    Several files: ``upload(files=[(b"one", "a.txt"), (b"two", "b.txt")])``.
    """

    def post(
        data: bytes | None = None,
        name: str = "note.txt",
        *,
        files: list[tuple[bytes, str]] | None = None,
        client: FlaskClient | None = None,
        **form: str,
    ) -> TestResponse:
        parts = files if files is not None else [(data or b"", name)]
        body: dict[str, Any] = dict(form)
        body["file"] = [(io.BytesIO(content), filename) for content, filename in parts]
        return (client or auth_client).post("/v1/documents", data=body, content_type="multipart/form-data")

    return post


@pytest.fixture(scope="session")
def encrypted_pdf() -> tuple[bytes, str]:
    """A one-page PDF encrypted with a user password, generated rather than committed."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "Locked"})
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), "s3cret"


@pytest.fixture()
def problem() -> Callable[[TestResponse, int, str], dict[str, Any]]:
    """Check that a response is RFC 9457 problem details with ``status`` and ``code``; returns the body."""

    def check(response: TestResponse, status: int, code: str) -> dict[str, Any]:
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/problem+json"
        body: dict[str, Any] = response.get_json()
        assert body["status"] == status
        assert body["code"] == code
        assert body["type"].endswith("/" + code)
        assert body["title"] and body["detail"]
        return body

    return check


@pytest.fixture()
def queued_messages(settings: Settings) -> Callable[[], list[str]]:
    """The queue names of the messages waiting in the embedded broker's folder."""

    def names() -> list[str]:
        folder = settings.broker_folder() / "queue"
        # kombu's filesystem transport names each message "<time>_<uuid>.<queue>.msg".
        return sorted(path.name.split(".")[-2] for path in folder.glob("*.msg"))

    return names


@pytest.fixture()
def stored_files(settings: Settings) -> Callable[[], list[Path]]:
    """Every file in the blob store, temporaries included: what a request left on disk."""
    return lambda: sorted(path for path in settings.storage_dir.rglob("*") if path.is_file())


@pytest.fixture()
def index_text(services: Services, tenant: IssuedKey) -> Callable[[str, list[str]], None]:
    """Give a document of ``tenant`` pages, one chunk per page and their vectors.

    That is what the content and ai stages leave behind; no worker runs here, so
    tests of content, search, reprocess and delete write it themselves, through
    the app's own provider and vector store.
    """

    def index(document_id: str, pages: list[str]) -> None:
        with session_scope(services.settings) as session:
            for number, text in enumerate(pages, start=1):
                session.add(PageText(document_id=document_id, number=number, text=text))
                session.add(Chunk(document_id=document_id, index=number - 1, tenant_id=tenant.tenant_id,
                                  page_start=number, page_end=number, text=text))
        vectors = services.provider.embed(pages)
        pairs = enumerate(zip(vectors, pages, strict=True))
        items = [VectorItem(i, vector, i + 1, i + 1, text) for i, (vector, text) in pairs]
        services.vector_store.upsert(tenant.tenant_id, document_id, items)

    return index
