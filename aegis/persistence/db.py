"""Engine and session factory, built lazily per process.

Nothing connects at import time: a Celery prefork child or a gunicorn worker
builds its own engine the first time it needs one (connections must not be
shared across ``fork``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from aegis.config import Settings

_engines: dict[tuple[int, str, bool], Engine] = {}
#: A private SQLite database in this process's memory (``aegis extract``).
IN_MEMORY = "sqlite://"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the gateway read while a worker writes; foreign keys make
    # ON DELETE CASCADE work as it does on PostgreSQL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def get_engine(settings: Settings, durable: bool = True) -> Engine:
    """One engine per (process, URL, durability); a forked child gets a fresh one.

    ``durable=False`` gives PostgreSQL connections with ``synchronous_commit=off``:
    a commit returns before its WAL record is flushed (the WAL writer flushes it
    within ``3 x wal_writer_delay``, 0.6 s by default). Only transactions that
    the reconciler re-drives if lost may use it (the stage runner's claim and
    finish; see docs/performance.md, "Third round"). Elsewhere it is the same engine.
    Its pool does not pre-ping (see docs/performance.md, "Fourth round: hops").
    """
    if not durable and not settings.database_url.startswith("postgresql"):
        durable = True  # SQLite has no such setting; one engine serves both
    key = (os.getpid(), settings.database_url, durable)
    engine = _engines.get(key)
    if engine is None:
        # Looked up at call time: with tracing on, the SQLAlchemy instrumentation has
        # wrapped ``sqlalchemy.create_engine`` so queries become child spans.
        create_engine = sqlalchemy.create_engine
        if settings.database_url == IN_MEMORY:
            # One connection shared by every session, or each would see its own empty database.
            engine = create_engine(IN_MEMORY, connect_args={"check_same_thread": False}, poolclass=StaticPool)
            event.listen(engine, "connect", _sqlite_pragmas)
        elif settings.database_url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                settings.database_url, connect_args={"timeout": 30, "check_same_thread": False}
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            connect_args = {} if durable else {"options": "-c synchronous_commit=off"}
            # The stage runner's engine skips the pre-ping (a round trip per checkout, twice
            # per stage task): a connection PostgreSQL dropped fails the claim or finish with
            # OperationalError, SQLAlchemy discards the pool's connections, and the task
            # retries once (tests/integration/test_stale_stage_connections.py).
            engine = create_engine(
                settings.database_url, pool_pre_ping=durable, pool_size=5, max_overflow=5, connect_args=connect_args
            )
        _engines[key] = engine
    return engine


def session_factory(settings: Settings, durable: bool = True) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(settings, durable), expire_on_commit=False)


@contextmanager
def session_scope(settings: Settings, durable: bool = True) -> Iterator[Session]:
    """A transaction: committed on success, rolled back on any error.

    ``durable=False``: see :func:`get_engine`; only for what the reconciler redoes.
    """
    session = session_factory(settings, durable)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_engines() -> None:
    """Drop pooled connections (after fork, or at the end of a test)."""
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
