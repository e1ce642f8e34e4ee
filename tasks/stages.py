"""One Celery task per registry stage: a message carries ids only.

Tasks are registered in a loop over the stage registry, so a new stage needs no
task module of its own. Each task is ``aegis.<stage>`` on the stage's queue.
"""

from __future__ import annotations

from celery import Celery, Task

from aegis.pipeline.registry import REGISTRY, Registry, StageSpec
from tasks.app import app
from tasks.base import run_stage, stage_options


def _make(spec: StageSpec, registry: Registry) -> object:
    def stage_task(self: Task, document_id: str, token: str) -> str:
        return run_stage(self, spec.name, document_id, token, registry)

    stage_task.__name__ = spec.name
    stage_task.__qualname__ = spec.name
    stage_task.__doc__ = f"The {spec.name} stage for one document."
    return stage_task


def register(app: Celery, registry: Registry = REGISTRY) -> dict[str, Task]:
    """Register a task for every stage of ``registry`` on ``app``."""
    return {spec.name: app.task(**stage_options(spec))(_make(spec, registry)) for spec in registry}


tasks = register(app)
