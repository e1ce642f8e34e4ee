"""The Flask gateway. Production: ``gunicorn -c python:web.gunicorn_conf 'web:create_app()'``.

``web.gunicorn_conf`` selects the gevent worker (web/server.py): event streams and
slow clients then cost a greenlet each instead of one of a few request threads.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from flask import Flask, g, request

from aegis.ai import get_provider, get_vector_store
from aegis.ai.types import Provider, VectorStore
from aegis.config import Settings, SettingsError, exit_on_settings_error, load_settings
from aegis.observability import tracing
from aegis.observability.logs import bind_context
from aegis.observability.logs import configure as configure_logging
from aegis.persistence.db import session_factory
from aegis.persistence.storage import BlobStore, StorageMisconfigured, prepare_at_start
from web import context, db, errors, eventhub, streams
from web.slowbody import SlowBodyGuard
from web.uploads import StreamingRequest, discard_leftovers

if TYPE_CHECKING:
    from celery import Celery

# gunicorn's arbiter stops on a worker that exits with this code ("App failed to
# load") instead of booting replacement workers forever.
_GUNICORN_APP_LOAD_ERROR = 4


def create_app(
    settings: Settings | None = None,
    *,
    store: BlobStore | None = None,
    vector_store: VectorStore | None = None,
    provider: Provider | None = None,
    celery: Celery | None = None,
) -> Flask:
    """Build the gateway; collaborators not passed in are built here, once, from ``settings``.

    Tests pass their own (a Celery app on a broker folder under ``tmp_path``);
    production passes nothing. Nothing here connects to a server: engines, SDK
    clients and broker connections open on first use.
    """
    if settings is None:
        try:
            settings = load_settings()
        except SettingsError as exc:
            # Built from the environment, this is the gateway process starting:
            # refuse with one line naming the variable.
            exit_on_settings_error(exc, _GUNICORN_APP_LOAD_ERROR)
    configure_logging(settings.log_level, settings.log_json)
    if celery is None:
        from tasks.app import app as default_celery

        celery = default_celery
    sessions = session_factory(settings)
    app = Flask(__name__)
    app.request_class = StreamingRequest
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes + 64 * 1024,  # multipart overhead
        MAX_FORM_MEMORY_SIZE=1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if settings.storage.bucket is None:
        settings.storage_dir.mkdir(parents=True, exist_ok=True)
    if store is None:
        try:
            # Stale temporaries of a killed predecessor go; a bucket that refuses us stops the gateway.
            store = prepare_at_start(settings, logging.getLogger("aegis.gateway"))
        except StorageMisconfigured as exc:
            exit_on_settings_error(SettingsError(f"AEGIS_STORAGE_URL: {exc}"), _GUNICORN_APP_LOAD_ERROR)
    context.install(
        app,
        context.Services(
            settings=settings,
            sessions=sessions,
            blob_store=store,
            vector_store=vector_store if vector_store is not None else get_vector_store(settings, sessions),
            provider=provider if provider is not None else get_provider(settings),
            celery=celery,
        ),
    )

    streams.install(app, streams.StreamSlots(settings.gateway, settings.events_url, settings.sentinel_master))
    master = settings.sentinel_master
    eventhub.install(app, eventhub.EventHub(settings.events_url, master) if settings.events_url else None)
    app.wsgi_app = SlowBodyGuard(app.wsgi_app, settings.gateway)  # type: ignore[method-assign]
    tracing.instrument_flask(app)

    @app.before_request
    def _request_context() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        bind_context(request_id=g.request_id)

    @app.teardown_request
    def _cleanup(exc: BaseException | None) -> None:
        discard_leftovers(exc)
        bind_context()

    db.register(app)
    errors.register(app)
    from web.auth import rate_headers

    app.after_request(rate_headers)

    from web import documents, events, health, metrics, search

    metrics.instrument(app)
    app.register_blueprint(metrics.bp)

    app.register_blueprint(health.bp)
    app.register_blueprint(documents.bp)
    from web import openapi, ui

    app.register_blueprint(ui.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(search.bp)
    from web import account

    app.register_blueprint(account.bp)
    return app
