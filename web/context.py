"""What the app factory builds once, and typed accessors views use to reach it.

Stores, the AI provider, the Celery app and the session factory are built in
:func:`web.create_app` and kept on the app (``app.extensions["aegis"]``), never per
request: constructing them is not free (a local embedding model, an SDK client,
a sessionmaker), and keeping them in one place is what lets a test hand the app
its own (a store under ``tmp_path``, a Celery app on a throw-away broker folder).

Views call these functions instead of reading ``current_app.config`` keys, so a
typo is an import error rather than a ``KeyError`` at request time, and mypy
knows what comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app
from sqlalchemy.orm import Session, sessionmaker

from aegis.ai.types import Provider, VectorStore
from aegis.config import Settings
from aegis.persistence.storage import BlobStore

if TYPE_CHECKING:
    from celery import Celery

EXTENSION = "aegis"


@dataclass(frozen=True)
class Services:
    """The gateway's long-lived collaborators, one set per app."""

    settings: Settings
    sessions: sessionmaker[Session]
    blob_store: BlobStore
    vector_store: VectorStore
    provider: Provider
    celery: Celery


def install(app: Flask, services: Services) -> None:
    app.extensions[EXTENSION] = services


def services() -> Services:
    """The current app's services (inside an app or request context)."""
    found: Services = current_app.extensions[EXTENSION]
    return found


def settings() -> Settings:
    return services().settings


def sessions() -> sessionmaker[Session]:
    return services().sessions


def blob_store() -> BlobStore:
    return services().blob_store


def vector_store() -> VectorStore:
    return services().vector_store


def provider() -> Provider:
    return services().provider


def celery() -> Celery:
    return services().celery
