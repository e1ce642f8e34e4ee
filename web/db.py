"""One database session per request, closed when the request ends."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from aegis.config import Settings
from aegis.persistence.db import session_factory


def settings() -> Settings:
    return current_app.config["AEGIS_SETTINGS"]


def db_session() -> Session:
    if "db" not in g:
        g.db = session_factory(settings())()
    return g.db


def register(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()
