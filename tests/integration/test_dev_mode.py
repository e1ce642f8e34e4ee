"""`aegis dev` with no configuration: SQLite, a filesystem broker, no server at all."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.harness import CORPUS, ROOT, ApiClient, free_port, wait_for

pytestmark = pytest.mark.integration


def test_aegis_dev_with_no_configuration_processes_a_pdf_and_stops_cleanly() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="aegis-dev-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEGIS_")}
    env["PYTHONPATH"] = str(ROOT)
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
            [*aegis, "tenant", "create", "laptop", "--json"], cwd=workdir, env=env,
            capture_output=True, text=True, check=True,
        )
        key = json.loads(created.stdout)["api_key"]
        api = ApiClient(base, key)
        response = api.upload(CORPUS / "pdf" / "pdflatex-4-pages.pdf")
        assert response.status_code == 202, response.text
        doc = api.wait(response.json()["id"], timeout=120)
        assert doc["status"] == "succeeded", (doc, (workdir / "dev.log").read_text()[-3000:])
        assert (workdir / "aegis-data" / "aegis.db").exists()

        def four_workers() -> bool:
            try:
                workers = requests.get(f"http://127.0.0.1:{flower_port}/api/workers?refresh=1", timeout=10).json()
            except (requests.RequestException, ValueError):
                return False
            queues = sorted(q["name"] for w in workers.values() for q in w.get("active_queues", []))
            return queues == ["ai", "content", "metadata", "validate"]

        wait_for(four_workers, 60, interval=1, message="Flower to list four workers, one per queue")

        def document_tasks() -> set[str]:
            try:
                tasks = requests.get(f"http://127.0.0.1:{flower_port}/api/tasks", timeout=10).json()
            except (requests.RequestException, ValueError):
                return set()
            return {t["name"] for t in tasks.values() if doc["id"] in str(t.get("args"))}

        stage_tasks = {"aegis.validate", "aegis.metadata", "aegis.content", "aegis.ai"}
        wait_for(lambda: stage_tasks <= document_tasks(), 60, interval=1,
                 message="Flower to show the document's four stage tasks")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 7  # gateway, four workers, beat, flower (plus their children)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        time.sleep(0.5)
        assert proc.returncode == 0, (workdir / "dev.log").read_text()[-3000:]
        assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
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
