"""What every stage task shares: limits, retries, the crash guard and the chain stop."""

from __future__ import annotations

import logging
import os
import random
import resource
import time
from typing import Any

from celery import Task
from celery.exceptions import TimeLimitExceeded
from sqlalchemy.exc import OperationalError

from aegis.config import Settings, load_settings, soft_limit
from aegis.observability import tracing
from aegis.observability.logs import bind_context
from aegis.observability.metrics import metrics
from aegis.pipeline import batches, chain, runner
from aegis.pipeline.errors import TransientError
from aegis.pipeline.registry import REGISTRY, Registry, StageSpec
from aegis.vocabulary import ErrorCode

log = logging.getLogger("aegis.tasks")

_settings: Settings | None = None
_memory_capped = False


def settings() -> Settings:
    global _settings
    if _settings is None:
        _settings = load_settings()
    return _settings


def cap_memory(megabytes: int) -> None:
    """Set RLIMIT_AS once per pool child, so a hostile file gets MemoryError, not the OOM killer."""
    global _memory_capped
    if _memory_capped or megabytes <= 0:
        return
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    _memory_capped = True


def backoff(retries: int, base: float = 2.0, cap: float = 120.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * (2 ** retries)))


def stage_options(spec: StageSpec) -> dict[str, Any]:
    s = settings()
    # AEGIS_TIME_LIMIT_<STAGE> when set, else the registry's default.
    hard = s.time_limits.get(spec.name, spec.time_limit)
    return {
        "name": spec.task_name,
        "bind": True,
        "base": StageTask,
        "time_limit": hard,
        "soft_time_limit": soft_limit(hard),
        "max_retries": None,  # the attempt counter in the database decides
        "acks_late": True,
        "reject_on_worker_lost": True,
    }


class StageTask(Task):
    abstract = True
    # The message goes to the pool child before Flower's task-received event (tasks/strategy.py).
    Strategy = "tasks.strategy:handoff_first"

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Celery calls this in the worker's main process when it kills a task at
        # its hard time limit: record a clean `timeout` instead of waiting for the reconciler.
        if isinstance(exc, TimeLimitExceeded) and len(args) == 2:
            stage = self.name.split(".", 1)[1]
            metrics().stage_tasks.labels(stage, "timeout").inc()
            try:
                runner.record_timeout(settings(), stage, args[0], args[1])
            except Exception:  # noqa: BLE001 - the reconciler is the safety net
                log.exception("could not record timeout")
                return
            from tasks.admission import ended

            ended(args[0])


def _begin_task(task: Task, stage: str, document_id: str, registry: Registry) -> tuple[Settings, str, float]:
    """Log context, the parser memory cap, and who is working: what every stage task starts with."""
    s = settings()
    bind_context(document_id=document_id, stage=stage, task_id=task.request.id)
    # The Celery instrumentation's span for this task run (a child of the upload's trace).
    tracing.annotate(document_id=document_id, stage=stage, retries=task.request.retries)
    if registry.get(stage).parses_untrusted:
        # Parsers of untrusted files run under an address-space cap in the pool child.
        cap_memory(s.parser_memory_mb)
    return s, f"{task.request.hostname}:{os.getpid()}", time.perf_counter()


def run_stage(task: Task, stage: str, document_id: str, token: str, registry: Registry = REGISTRY) -> str:
    s, worker, started = _begin_task(task, stage, document_id, registry)
    try:
        outcome = runner.execute(
            s, stage, document_id, token, task_id=task.request.id, worker=worker, registry=registry,
            on_advance=lambda: send_next_now(task),
        )
    except (TransientError, OperationalError) as exc:
        metrics().stage_tasks.labels(stage, "retry").inc()
        tracing.annotate(outcome="retry")
        try:
            runner.record_transient(
                s, stage, document_id, token, f"{type(exc).__name__}: {exc}",
                getattr(exc, "code", ErrorCode.TRANSIENT_ERROR),
            )
        except Exception:  # noqa: BLE001 - the database itself may be what is down
            pass
        countdown = backoff(task.request.retries)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            countdown = max(countdown, float(retry_after))  # the service said how long to wait
        raise task.retry(exc=exc, countdown=countdown) from exc
    finally:
        bind_context()
    metrics().stage_tasks.labels(stage, outcome.value).inc()
    metrics().stage_duration.labels(stage).observe(time.perf_counter() - started)
    tracing.annotate(outcome=outcome.value)
    if outcome is not runner.Outcome.SUCCEEDED:
        # Stop the chain here: the document ended, another message owns it, or its
        # batches carry it on (the join sends the rest of the chain).
        task.request.chain = None
    if outcome is runner.Outcome.FANNED_OUT:
        chain.send_batches(task.app, document_id, token, stage, batches.open_batches(s, document_id, stage), registry,
                           priority=message_priority(task))
    if outcome in (runner.Outcome.REJECTED, runner.Outcome.FAILED) or (
        outcome is runner.Outcome.SUCCEEDED and registry.next(stage) is None
    ):
        from tasks.admission import ended

        ended(document_id)
    return outcome.value


def send_next_now(task: Task) -> None:
    """Publish the chain's next stage now, not after this task returns.

    Celery sends the next signature of a chain once the task function has
    returned; by then this stage has also published its event and logged. The
    finishing transaction has committed, so the message may go at once (what
    Celery would have sent, with the same parent, root and remaining chain). A
    failed send is the reconciler's to repair, as a failed chain send always was.
    """
    remaining = task.request.chain
    if not remaining:
        return
    task.request.chain = None
    try:
        task.app.signature(remaining[-1]).apply_async(
            chain=remaining[:-1], parent_id=task.request.id, root_id=task.request.root_id or task.request.id,
        )
    except Exception as exc:  # noqa: BLE001 - the document row says where it is; the reconciler re-sends
        log.warning("could not send the next stage: %s", exc, extra={"document_id": task.request.args[0]})


def message_priority(task: Task) -> int | None:
    """The priority this task's message came with: the document's batches and later stages keep it."""
    value = (task.request.delivery_info or {}).get("priority")
    return value if isinstance(value, int) else None


def batch_options(spec: StageSpec) -> dict[str, Any]:
    """A batch task has the stage's limits: they bound one batch, never a whole document."""
    return {**stage_options(spec), "name": spec.batch_task_name, "base": BatchTask}


class BatchTask(Task):
    abstract = True
    Strategy = "tasks.strategy:handoff_first"

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Killed at the hard limit: end the batch now, as the soft limit would have.
        if isinstance(exc, TimeLimitExceeded) and len(args) == 3:
            stage = self.name.split(".")[1]
            metrics().stage_tasks.labels(stage, "timeout").inc()
            try:
                outcome, following = batches.record_batch_timeout(settings(), stage, *args)
            except Exception:  # noqa: BLE001 - the reconciler is the safety net
                log.exception("could not record batch timeout")
                return
            _after_batch(self, stage, args[0], args[1], outcome, following)


def run_batch(task: Task, stage: str, document_id: str, token: str, index: int, registry: Registry = REGISTRY) -> str:
    s, worker, started = _begin_task(task, stage, document_id, registry)
    tracing.annotate(batch=index)
    try:
        outcome, following = batches.execute_batch(
            s, stage, document_id, token, index, task_id=task.request.id, worker=worker, registry=registry
        )
    except (TransientError, OperationalError) as exc:
        metrics().stage_tasks.labels(stage, "retry").inc()
        tracing.annotate(outcome="retry")
        raise task.retry(exc=exc, countdown=backoff(task.request.retries)) from exc
    finally:
        bind_context()
    metrics().stage_tasks.labels(stage, f"batch_{outcome.value}").inc()
    tracing.annotate(outcome=f"batch_{outcome.value}")
    metrics().stage_duration.labels(stage).observe(time.perf_counter() - started)
    _after_batch(task, stage, document_id, token, outcome, following, registry)
    return outcome.value


def _after_batch(
    task: Task, stage: str, document_id: str, token: str, outcome: batches.BatchOutcome, following: str | None,
    registry: Registry = REGISTRY,
) -> None:
    if outcome is batches.BatchOutcome.JOINED and following is not None:
        # The join committed: carry the chain on. A crash before this line only
        # delays the document until the reconciler sends it.
        chain.send(task.app, document_id, token, following, registry, priority=message_priority(task))
    elif outcome is batches.BatchOutcome.ENDED:
        from tasks.admission import ended

        ended(document_id)
