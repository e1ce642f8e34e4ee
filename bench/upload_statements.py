"""What one small upload costs the database: pool checkouts, statements and commits.

Runs the gateway app in this process (Flask's test client, the real PostgreSQL, a
publish-only Celery app) with a fresh database, uploads 40 small files first (past
the default in-flight cap, as in ``bench/uploads.py``) and then lists the SQL of one
more. Every transaction also costs a BEGIN and
a COMMIT. Unlike a throughput number this does not depend on the machine's load.

    .venv/bin/python bench/upload_statements.py [--cpu 300]

``--cpu N`` then uploads N more and prints this process's CPU per upload (the
gateway's Python work: Flask, multipart, SQLAlchemy, psycopg; no HTTP server).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from tests.harness import postgres_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu", type=int, default=0, metavar="N")
    args = parser.parse_args()
    from aegis.config import load_settings
    from aegis.persistence.db import dispose_engines, get_engine, session_scope
    from aegis.persistence.migrate import upgrade
    from aegis.services.tenants import create_tenant
    from tests.unit.gateway.conftest import embedded_celery
    from web import create_app

    with postgres_database() as url, tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings({"AEGIS_DATABASE_URL": url, "AEGIS_DATA_DIR": data_dir, "AEGIS_LOG_LEVEL": "ERROR"})
        upgrade(settings)
        with session_scope(settings) as session:
            key = create_tenant(session, "bench").api_key
        celery = embedded_celery(settings)
        app = create_app(settings, celery=celery)
        engine = get_engine(settings)  # the gateway's engine (web/__init__.py)
        statements: list[str] = []
        counts = {"checkouts": 0, "commits": 0}

        def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            statements.append(" ".join(statement.split())[:100])

        def count(name: str) -> Any:
            return lambda *_args: counts.__setitem__(name, counts[name] + 1)

        event.listen(engine, "before_cursor_execute", on_statement)
        event.listen(engine.pool, "checkout", count("checkouts"))
        event.listen(engine, "commit", count("commits"))
        client = app.test_client()

        def upload() -> int:
            body = {"file": (io.BytesIO(f"{uuid.uuid4()} small upload".encode()), "small.txt")}
            return client.post("/v1/documents", headers={"Authorization": f"Bearer {key}"}, data=body).status_code

        for _ in range(40):
            upload()
        statements.clear()
        counts.update(checkouts=0, commits=0)
        status = upload()
        print(f"answer {status}; checkouts (no pre-ping) {counts['checkouts']}, "
              f"commits {counts['commits']}, statements {len(statements)}:")
        for statement in statements:
            print("  ", statement)
        event.remove(engine, "before_cursor_execute", on_statement)
        if args.cpu:
            started = time.process_time()
            statuses = {upload() for _ in range(args.cpu)}
            cpu = time.process_time() - started
            print("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
            print(f"CPU per upload in process: {1000 * cpu / args.cpu:.2f} ms ({args.cpu} uploads, answers {statuses})")
        celery.close()
        dispose_engines()


if __name__ == "__main__":
    main()
