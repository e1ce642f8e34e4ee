"""Where one document's time goes, stage by stage: the work itself against the database.

Drives the workers' own runner (``aegis.pipeline.runner.execute``, batches included)
in this process on a fresh PostgreSQL database (or SQLite with ``--sqlite``), with
no broker in between, and splits every stage's wall time into:

- ``run``: the stage's own work (parsing, OCR, embeddings), no database;
- ``load``: reading what the stage needs from earlier stages;
- ``db``: everything else the runner does: the claim transaction, ``save`` and the
  finishing transaction (row writes, flush, commit), and the AI stage's vector
  writes to the local store.

    .venv/bin/python bench/stages.py [FILE ...] [--sqlite] [--repeat 1]

With no files it profiles a big and a small PDF, a DOCX and a scanned PDF of the
shared corpus. The hops between stages (broker, worker pick-up) are measured by
``bench/hops.py``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aegis.config import Settings, load_settings  # noqa: E402
from aegis.persistence.db import dispose_engines, get_engine, session_scope  # noqa: E402
from aegis.persistence.models import Base, Tenant  # noqa: E402
from aegis.persistence.storage import VolumeBlobStore  # noqa: E402
from aegis.pipeline.batches import execute_batch, open_batches  # noqa: E402
from aegis.pipeline.registry import REGISTRY  # noqa: E402
from aegis.pipeline.runner import Outcome, execute  # noqa: E402
from aegis.services import documents as docs  # noqa: E402
from tests.harness import CORPUS, postgres_database  # noqa: E402

DEFAULT_FILES = ("pdf/DA-619p.pdf", "pdf/pdf-with-ocr-text.pdf", "office/handbook-872p.docx",
                 "office/simple.docx", "pdf/imagemagick-CCITTFaxDecode.pdf")
STEPS = ("load", "run", "save", "run_batch", "save_batch", "join")

Timings = dict[str, dict[str, float]]


def _instrument(timings: Timings) -> None:
    """Time every stage method (instance attributes shadow the class's)."""
    for spec in REGISTRY:
        impl = REGISTRY.impl(spec.name)
        for step in STEPS:
            method = getattr(type(impl), step, None)
            if method is None:
                continue

            def timed(*args: Any, _m: Callable[..., Any] = method, _i: Any = impl, _s: str = spec.name,
                      _step: str = step, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return _m(_i, *args, **kwargs)
                finally:
                    timings[_s][_step] += time.perf_counter() - started

            setattr(impl, step, timed)
    # The local vector store writes embeddings to the database from inside the AI
    # stage's ``run``: count that as database time, not as the stage's own work.
    from aegis.ai.vectorstores.local import LocalVectorStore

    upsert = LocalVectorStore.__dict__.get("_bench_original", LocalVectorStore.upsert)
    LocalVectorStore._bench_original = upsert  # type: ignore[attr-defined]

    def timed_upsert(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return upsert(self, *args, **kwargs)
        finally:
            timings["ai"]["vectors"] += time.perf_counter() - started

    LocalVectorStore.upsert = timed_upsert  # type: ignore[method-assign]


@contextmanager
def _database(sqlite: bool) -> Iterator[Settings]:
    folder = Path(tempfile.mkdtemp(prefix="aegis-stages-"))
    try:
        if sqlite:
            url = f"sqlite:///{folder / 'aegis.db'}"
            settings = dataclasses.replace(load_settings({"AEGIS_DATA_DIR": str(folder)}), database_url=url,
                                           events_url=None)
            Base.metadata.create_all(get_engine(settings))
            yield settings
        else:
            with postgres_database() as url:
                from aegis.persistence import migrate

                settings = dataclasses.replace(
                    load_settings({"AEGIS_DATA_DIR": str(folder), "AEGIS_DATABASE_URL": url}), events_url=None
                )
                migrate.upgrade(settings)
                try:
                    yield settings
                finally:
                    dispose_engines()
    finally:
        dispose_engines()
        shutil.rmtree(folder, ignore_errors=True)


def profile(settings: Settings, path: Path, timings: Timings, tenant_id: str) -> str:
    data = path.read_bytes()
    sha = hashlib.sha256(data + os.urandom(8)).hexdigest()  # a fresh document every time
    blob = VolumeBlobStore(settings.storage_dir).path_for(tenant_id, sha)
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    with session_scope(settings) as session:
        intake = docs.intake(session, tenant_id, path.name, sha, len(data), admitted=True)
        doc_id, token = intake.document.id, intake.document.dispatch_token
    status = "succeeded"
    for spec in REGISTRY:
        started = time.perf_counter()
        outcome = execute(settings, spec.name, doc_id, token, task_id="bench", worker="bench")
        if outcome is Outcome.FANNED_OUT:
            for index in open_batches(settings, doc_id, spec.name):
                execute_batch(settings, spec.name, doc_id, token, index, task_id=f"bench-{index}", worker="bench")
            outcome = Outcome.SUCCEEDED
        timings[spec.name]["total"] += time.perf_counter() - started
        if outcome is not Outcome.SUCCEEDED:
            status = outcome.value
            break
    return status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--repeat", type=int, default=1, help="runs per file (the mean is printed)")
    args = parser.parse_args()
    files = args.files or [CORPUS / f for f in DEFAULT_FILES]
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    print(f"{'file':34} {'stage':9} {'total ms':>9} {'run':>8} {'load':>7} {'db':>8}")
    with _database(args.sqlite) as settings:
        with session_scope(settings) as session:
            tenant = Tenant(name="bench")
            session.add(tenant)
            session.flush()
            tenant_id = tenant.id
        for path in files:
            timings: Timings = defaultdict(lambda: defaultdict(float))
            _instrument(timings)
            statuses = {profile(settings, path, timings, tenant_id) for _ in range(args.repeat)}
            whole = 0.0
            for stage, t in timings.items():
                run = t["run"] + t["run_batch"] - t["vectors"]
                total = t["total"] / args.repeat
                whole += total
                db = total - (run + t["load"]) / args.repeat
                print(f"{path.name[:34]:34} {stage:9} {total * 1000:9.1f} {run / args.repeat * 1000:8.1f} "
                      f"{t['load'] / args.repeat * 1000:7.1f} {db * 1000:8.1f}")
            print(f"{path.name[:34]:34} {'ALL':9} {whole * 1000:9.1f}  {sorted(statuses)}")


if __name__ == "__main__":
    main()
