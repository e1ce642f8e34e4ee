"""One database session per request, closed when the request ends."""

from __future__ import annotations

from flask import Flask, g
from sqlalchemy.orm import Session

from web.context import sessions


def db_session() -> Session:
    """The request's session, opened on first use from the app's one session factory."""
    if "db" not in g:
        g.db = sessions()()
    return g.db


def release_session() -> None:
    """End the request's session now (a long-lived response must not hold its connection)."""
    session = g.pop("db", None)
    if session is not None:
        session.close()


def register(app: Flask) -> None:
    @app.teardown_appcontext
    def _close(exc: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()
