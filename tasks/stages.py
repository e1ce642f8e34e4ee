"""One Celery task per registry stage: a message carries ids only.

Tasks are registered in a loop over the stage registry, so a new stage needs no
task module of its own. Each task is ``aegis.<stage>`` on the stage's queue.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, Task
from celery.signals import worker_init

from aegis.pipeline.registry import REGISTRY, Registry, StageSpec
from tasks.app import app
from tasks.base import batch_options, run_batch, run_stage, stage_options


def _make(spec: StageSpec, registry: Registry) -> object:
    def stage_task(self: Task, document_id: str, token: str) -> str:
        return run_stage(self, spec.name, document_id, token, registry)

    stage_task.__name__ = spec.name
    stage_task.__qualname__ = spec.name
    stage_task.__doc__ = f"The {spec.name} stage for one document."
    return stage_task


def _make_batch(spec: StageSpec, registry: Registry) -> object:
    def batch_task(self: Task, document_id: str, token: str, index: int) -> str:
        return run_batch(self, spec.name, document_id, token, index, registry)

    batch_task.__name__ = batch_task.__qualname__ = f"{spec.name}_batch"
    batch_task.__doc__ = f"One batch of the {spec.name} stage for one document."
    return batch_task


def register(app: Celery, registry: Registry = REGISTRY) -> dict[str, Task]:
    """Register a task for every stage of ``registry`` on ``app`` (and a batch task where it fans out)."""
    registered = {spec.name: app.task(**stage_options(spec))(_make(spec, registry)) for spec in registry}
    for spec in registry:
        if spec.fans_out:
            registered[f"{spec.name}.batch"] = app.task(**batch_options(spec))(_make_batch(spec, registry))
    return registered


def _preload(**_kwargs: Any) -> None:
    """In the worker's main process, before the pool forks: see ``aegis.pipeline.runner_warmup``."""
    from aegis.pipeline.runner_warmup import preload

    preload()


tasks = register(app)
worker_init.connect(_preload, weak=False)
