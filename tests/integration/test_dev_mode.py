"""`aegis dev` with no configuration: SQLite, a filesystem broker, no server at all.

It is quiet (issue 10, item 4): the terminal gets the gateway and Flower URLs and
the data directory, the processes' own output goes to log files there. The data
directory is set under a temporary folder so the test never writes the user's own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest
import requests

from aegis.pipeline.registry import STAGES
from tests.harness import CORPUS, ROOT, ApiClient, free_port, wait_for

pytestmark = pytest.mark.integration


def _alive(process: psutil.Process) -> bool:
    """Still running (a zombie no one has reaped yet has exited)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_aegis_dev_with_no_configuration_processes_a_pdf_and_stops_cleanly() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="aegis-dev-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEGIS_")}
    env["PYTHONPATH"] = str(ROOT)
    data_dir = workdir / "data"
    env["AEGIS_DATA_DIR"] = str(data_dir)
    aegis = [sys.executable, "-m", "aegis.cli"]
    port, flower_port = free_port(), free_port()
    log = open(workdir / "dev.log", "wb")
    proc = subprocess.Popen(
        [*aegis, "dev", "--port", str(port), "--flower-port", str(flower_port)],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    children: list[psutil.Process] = []
    try:
        base = f"http://127.0.0.1:{port}"

        def gateway_up() -> bool:
            assert proc.poll() is None, (workdir / "dev.log").read_text()
            try:
                return requests.get(base + "/ready", timeout=5).status_code == 200
            except requests.RequestException:
                return False

        wait_for(gateway_up, 90, message="aegis dev gateway")
        created = subprocess.run(
            [*aegis, "tenant", "create", "laptop", "--json"], cwd=ROOT, env=env,
            capture_output=True, text=True, check=True,
        )
        key = json.loads(created.stdout)["api_key"]
        api = ApiClient(base, key)
        response = api.upload(CORPUS / "pdf" / "pdflatex-4-pages.pdf")
        assert response.status_code == 202, response.text
        doc = api.wait(response.json()["id"], timeout=120)
        assert doc["status"] == "succeeded", (doc, (workdir / "dev.log").read_text()[-3000:])
        assert (data_dir / "aegis.db").exists()
        assert not (workdir / "aegis-data").exists()
        # Quiet: three lines on the terminal, the rest in one log file per process.
        said = (workdir / "dev.log").read_text().splitlines()
        assert len(said) == 3, said
        assert f"http://127.0.0.1:{port}/" in said[0] and f"http://127.0.0.1:{flower_port}/" in said[0]
        assert str(data_dir) in said[1] and "aegis tenant create" in said[2]
        logs = data_dir / "logs"
        assert {p.name for p in logs.glob("*.log")} >= {"gateway.log", "beat.log", "flower.log",
                                                         *(f"worker-{s}.log" for s in STAGES)}
        assert sum(p.stat().st_size for p in logs.glob("*.log")) > 0

        def four_workers() -> bool:
            try:
                workers = requests.get(f"http://127.0.0.1:{flower_port}/api/workers?refresh=1", timeout=10).json()
            except (requests.RequestException, ValueError):
                return False
            queues = sorted(q["name"] for w in workers.values() for q in w.get("active_queues", []))
            return queues == sorted(STAGES)

        wait_for(four_workers, 60, interval=1, message="Flower to list one worker per queue")

        def document_tasks() -> set[str]:
            try:
                tasks = requests.get(f"http://127.0.0.1:{flower_port}/api/tasks", timeout=10).json()
            except (requests.RequestException, ValueError):
                return set()
            return {t["name"] for t in tasks.values() if doc["id"] in str(t.get("args"))}

        stage_tasks = {"aegis.validate", "aegis.metadata", "aegis.content", "aegis.ai"}  # ocr: skipped for text PDFs
        wait_for(lambda: stage_tasks <= document_tasks(), 60, interval=1,
                 message="Flower to show the document's four stage tasks")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 7  # gateway, a worker per stage, beat, flower (plus their children)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        assert proc.returncode == 0, (workdir / "dev.log").read_text()[-3000:]
        assert len((workdir / "dev.log").read_text().splitlines()) == 4  # and "stopping…"
        # Grandchildren (pool processes) may finish exiting just after their parent: wait for
        # that (bounded) instead of a fixed pause that a loaded machine can outlast.
        wait_for(lambda: not [c for c in children if _alive(c)], 30, interval=0.1,
                 message="every process aegis dev started to exit")
    finally:
        if proc.poll() is None:  # a failure above: let aegis dev stop its children first
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for child in children:
            if child.is_running():
                child.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
