"""``aegis dev``: supervise the gateway, four stage workers, beat and Flower.

Each child gets its own session (process group) so a Ctrl-C reaches only us; we
then send SIGTERM to every child (Celery's warm shutdown: running tasks finish,
unfinished ones go back to the queue), wait, and SIGKILL what is left.

Quiet by default: the children's output (Celery's banners, gunicorn's access
lines, library warnings: some 190 lines before the first upload) goes to one log
file per process under ``<data dir>/logs``, and the terminal shows only what a
person needs: where the gateway, Flower and the data are, and which log to read
when a process stops. ``--verbose`` lets every child write to the terminal.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import click

from aegis.config import Settings
from aegis.pipeline.registry import STAGES

GRACE_SECONDS = 20


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]


def worker_argv(stage: str, concurrency: int = 1, hostname: str | None = None) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "tasks", "worker",
        "-Q", stage, "-n", hostname or f"{stage}@%h",
        "--concurrency", str(concurrency), "--loglevel", "INFO",
    ]


def gateway_argv(host: str, port: int, workers: int | None = 1) -> list[str]:
    """The gateway command; the harness, the chart and the README run the same one.

    Every gunicorn setting that matters (the gevent worker, limits, timeouts) is
    in ``web/gunicorn_conf.py``, so the places that start the gateway cannot drift.
    ``workers=None`` leaves the number of processes to its default (one per CPU,
    at most 4); ``aegis dev`` and the tests run one, so ``/metrics`` counts them all.
    """
    count = [] if workers is None else ["--workers", str(workers)]
    return [
        sys.executable, "-m", "gunicorn", "-c", "python:web.gunicorn_conf",
        "--bind", f"{host}:{port}", *count, "web:create_app()",
    ]


def beat_argv(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "tasks", "beat", "--loglevel", "INFO",
        "-s", str(settings.data_dir / "celerybeat-schedule"),
    ]


def process_specs(settings: Settings, host: str, port: int, flower_port: int, concurrency: int) -> list[ProcessSpec]:
    specs = [
        ProcessSpec("gateway", gateway_argv(host, port))
    ]
    specs += [ProcessSpec(f"worker-{stage}", worker_argv(stage, concurrency)) for stage in STAGES]
    specs.append(ProcessSpec("beat", beat_argv(settings)))
    if flower_port:
        specs.append(ProcessSpec(
            "flower",
            [sys.executable, "-m", "celery", "-A", "tasks", "flower", f"--port={flower_port}",
             f"--address={host}"],
        ))
    return specs


def log_dir(settings: Settings) -> Path:
    return settings.data_dir / "logs"


def start(
    specs: Sequence[ProcessSpec], env: dict[str, str], logs: Path | None = None
) -> dict[str, subprocess.Popen[bytes]]:
    """Start every child; with ``logs``, each one's stdout and stderr go to ``<logs>/<name>.log``.

    Each run starts its logs afresh, so they hold this run only and stay bounded.
    """
    children: dict[str, subprocess.Popen[bytes]] = {}
    for spec in specs:
        out: IO[bytes] | None = None
        if logs is not None:
            logs.mkdir(parents=True, exist_ok=True)
            out = open(logs / f"{spec.name}.log", "wb")  # noqa: SIM115 - the child holds it; closed below
        try:
            children[spec.name] = subprocess.Popen(
                spec.argv, env=env, start_new_session=True,
                stdout=out, stderr=subprocess.STDOUT if out is not None else None,
            )
        finally:
            if out is not None:
                out.close()  # the child has its own descriptor now
    return children


def stop(children: dict[str, subprocess.Popen[bytes]], grace: float = GRACE_SECONDS) -> None:
    for proc in children.values():
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in children.values():
        remaining = max(0.1, deadline - time.monotonic())
        try:
            proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def run_dev(
    settings: Settings, *, host: str, port: int, flower_port: int, concurrency: int, as_json: bool = False,
    verbose: bool = False,
) -> int:
    from aegis.cli.common import database_errors
    from aegis.persistence import migrate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with database_errors(settings):
        migrate.upgrade(settings)
    env = dict(os.environ)
    env["AEGIS_DATA_DIR"] = str(settings.data_dir)
    # Fair share's bound follows the workers started here: one per stage, `concurrency` each.
    env.setdefault("AEGIS_PIPELINE_SLOTS", str(len(STAGES) * concurrency))
    if host in ("127.0.0.1", "localhost", "::1"):
        # Flower's JSON API is closed by default; on loopback, for a laptop, open it.
        env.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    logs = None if verbose else log_dir(settings)
    children = start(process_specs(settings, host, port, flower_port, concurrency), env, logs)

    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    broker = {"filesystem": "filesystem (embedded)", "amqp": "rabbitmq"}.get(settings.broker_kind, "redis")
    if as_json:
        click.echo(json.dumps({
            "gateway": f"http://{host}:{port}/",
            "flower": f"http://{host}:{flower_port}/" if flower_port else None,
            "broker": broker,
            "data_dir": str(settings.data_dir),
            "logs": str(logs) if logs else None,
        }))
    flower = f"  Flower: http://{host}:{flower_port}/" if flower_port else ""
    click.echo(f"Aegis is starting: gateway http://{host}:{port}/{flower}  broker: {broker}", err=True)
    where = f"  logs: {logs} (--verbose shows them here)" if logs else ""
    click.echo(f"Data: {settings.data_dir}{where}", err=True)
    click.echo("Create a tenant and key: aegis tenant create NAME --json   (Ctrl-C stops everything)", err=True)
    exit_code = 0
    try:
        while not stopping:
            for name, proc in children.items():
                if proc.poll() is not None:
                    see = f" (see {logs / f'{name}.log'})" if logs else ""
                    click.echo(f"{name} exited with code {proc.returncode}{see}; stopping", err=True)
                    stopping = True
                    exit_code = 1
                    break
            time.sleep(0.5)
    finally:
        click.echo("stopping…", err=True)
        stop(children)
    return exit_code
