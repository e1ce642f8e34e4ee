"""The stage registry: the one place that declares the pipeline's stages, in order.

Celery task registration (``tasks.stages``), routing (``celeryconfig`` through
:mod:`aegis.pipeline.routing`), the chain, the reconciler, ``aegis dev``'s workers,
the API's ``stages`` object and the Helm chart's ``workers:`` keys (checked by a
test) all derive from :data:`REGISTRY`. Adding a stage means one entry here and
one module in ``aegis/pipeline/stages``.

Stage implementations are imported on first use, so importing the registry (as
``aegis.config`` does) stays cheap for the CLI and the gateway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aegis.pipeline.stage import Stage

TASK_PREFIX = "aegis."


@dataclass(frozen=True)
class StageSpec:
    """One stage: its name, queue, default hard time limit and implementation."""

    name: str
    #: Default hard time limit in seconds (``AEGIS_TIME_LIMIT_<NAME>`` overrides it).
    time_limit: int
    #: True when the stage parses untrusted bytes: it runs under the parser memory cap.
    parses_untrusted: bool
    #: Builds the implementation; imported lazily so the registry stays light.
    factory: Callable[[], Stage[Any, Any]] = field(repr=False, compare=False)
    #: The Celery queue; one per stage, so each scales on its own.
    queue: str = ""
    #: True when the stage splits its work into batches (a ``FanOutStage``): one
    #: ``aegis.<stage>.batch`` task per batch, on the same queue.
    fans_out: bool = False

    def __post_init__(self) -> None:
        if not self.queue:
            object.__setattr__(self, "queue", self.name)

    @property
    def task_name(self) -> str:
        return TASK_PREFIX + self.name

    @property
    def batch_task_name(self) -> str:
        return TASK_PREFIX + self.name + ".batch"


class Registry:
    """An ordered, immutable set of stages with the lookups the pipeline needs."""

    def __init__(self, stages: Sequence[StageSpec]) -> None:
        if not stages:
            raise ValueError("a pipeline needs at least one stage")
        names = [s.name for s in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique: {names}")
        self._specs: tuple[StageSpec, ...] = tuple(stages)
        self._by_name = {s.name: s for s in stages}
        self._impls: dict[str, Stage[Any, Any]] = {}

    def __iter__(self) -> Iterator[StageSpec]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self._specs)

    @property
    def first(self) -> StageSpec:
        return self._specs[0]

    @property
    def queues(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.queue for s in self._specs))

    def get(self, name: str) -> StageSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"unknown stage {name!r}; known: {', '.join(self.names)}") from None

    def next(self, name: str) -> str | None:
        """The stage after ``name``, or None when ``name`` is the last."""
        index = self.names.index(self.get(name).name)
        return self._specs[index + 1].name if index + 1 < len(self._specs) else None

    def from_(self, name: str) -> tuple[StageSpec, ...]:
        """``name`` and every stage after it, in order."""
        return self._specs[self.names.index(self.get(name).name):]

    def impl(self, name: str) -> Stage[Any, Any]:
        """The stage's implementation, built once per process."""
        impl = self._impls.get(name)
        if impl is None:
            impl = self._impls[name] = self.get(name).factory()
        return impl

    def default_time_limits(self) -> dict[str, int]:
        return {s.name: s.time_limit for s in self._specs}


def _validate() -> Stage[Any, Any]:
    from aegis.pipeline.stages.validate import ValidateStage

    return ValidateStage()


def _metadata() -> Stage[Any, Any]:
    from aegis.pipeline.stages.metadata import MetadataStage

    return MetadataStage()


def _content() -> Stage[Any, Any]:
    from aegis.pipeline.stages.content import ContentStage

    return ContentStage()


def _ocr() -> Stage[Any, Any]:
    from aegis.pipeline.stages.ocr import OcrStage

    return OcrStage()


def _ai() -> Stage[Any, Any]:
    from aegis.pipeline.stages.ai import AIStage

    return AIStage()


REGISTRY = Registry(
    [
        StageSpec("validate", time_limit=60, parses_untrusted=True, factory=_validate),
        StageSpec("metadata", time_limit=120, parses_untrusted=True, factory=_metadata),
        StageSpec("content", time_limit=300, parses_untrusted=True, factory=_content),
        # The limit bounds one batch of pages (AEGIS_OCR_BATCH_PAGES), never a whole scan.
        StageSpec("ocr", time_limit=300, parses_untrusted=True, factory=_ocr, fans_out=True),
        StageSpec("ai", time_limit=600, parses_untrusted=False, factory=_ai),
    ]
)
#: The stage names in pipeline order.
STAGES: tuple[str, ...] = REGISTRY.names
