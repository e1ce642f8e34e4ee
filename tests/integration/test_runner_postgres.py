"""The stage runner's claim rules on PostgreSQL, where claim and finish are one statement each.

``tests/unit/test_runner.py`` runs them on SQLite, through the ORM path; here the
same tests run against PostgreSQL, through the one-statement claim and finish
(and the ORM path they fall back to when a check fails), so both paths keep the
same rules: token, status, stage, held elsewhere, attempt limit, task id.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aegis.config import Settings, load_settings
from aegis.persistence import migrate
from aegis.persistence.db import dispose_engines
from tests.harness import postgres_database
from tests.unit import test_runner as _on_sqlite

globals().update({name: getattr(_on_sqlite, name) for name in dir(_on_sqlite) if name.startswith("test_")})


@pytest.fixture()
def settings(tmp_path: object) -> Iterator[Settings]:
    with postgres_database() as url:
        s = load_settings({"AEGIS_DATA_DIR": str(tmp_path), "AEGIS_DATABASE_URL": url, "AEGIS_MAX_ATTEMPTS": "2"})
        migrate.upgrade(s)
        try:
            yield s
        finally:
            dispose_engines()
