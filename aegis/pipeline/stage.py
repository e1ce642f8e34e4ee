"""The contract every pipeline stage implements, and the document view it gets.

A stage is three steps so the runner can keep transactions short: ``load`` reads
what the stage needs from earlier stages inside the claim transaction, ``run``
does the slow work with no transaction open (and no database access), ``save``
writes the outputs in the finishing transaction. Outputs are replaced, never
appended, so a re-run leaves exactly one copy.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from aegis.config import Settings
    from aegis.persistence.models import Document

_COLUMN = {"metadata": "doc_metadata"}
InputsT = TypeVar("InputsT")
ResultT = TypeVar("ResultT")
BatchResultT = TypeVar("BatchResultT")


@dataclass(frozen=True)
class DocumentView:
    """What a stage's ``run`` may know about a document: plain values, no ORM object.

    ``run`` executes outside any transaction, so it must not touch a live row.
    """

    id: str
    tenant_id: str
    filename: str
    sha256: str
    size: int
    mime: str | None
    family: str | None
    metadata: dict[str, Any] | None

    @classmethod
    def of(cls, document: Document) -> DocumentView:
        # The fields are the row's columns of the same name (metadata is doc_metadata).
        return cls(**{f.name: getattr(document, _COLUMN.get(f.name, f.name)) for f in fields(cls)})


#: What ``run`` gets as ``blob`` in a stage that does not read the file (an empty file).
NO_FILE = Path(os.devnull)


class Stage(ABC, Generic[InputsT, ResultT]):
    """One step of the chain: ``load`` → ``run`` → ``save``."""

    #: False for a stage that works from earlier stages' outputs only: the runner then
    #: makes no local copy of the file, which from a bucket is a whole download.
    reads_file: ClassVar[bool] = True

    #: True when ``inputs_from_claim`` gives what ``load`` would read, from the claim
    #: statement's own row: the claim is then one round trip with no transaction around
    #: it, instead of BEGIN, claim, ``load``'s reads and COMMIT on the hop into the stage.
    loads_from_claim: ClassVar[bool] = False

    @abstractmethod
    def load(self, session: Session, document: Document) -> InputsT:
        """Read what ``run`` needs from earlier stages (inside the claim transaction)."""

    def inputs_from_claim(self, claimed: Mapping[str, Any]) -> InputsT:
        """``load``'s answer from the claim's row (the document's columns and ``tenant_*``), if ``loads_from_claim``."""
        raise NotImplementedError(f"{type(self).__name__} reads its inputs in load")

    @abstractmethod
    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: InputsT) -> ResultT:
        """The work itself: no database, no Celery; raise ``DocumentError`` for a bad file."""

    @abstractmethod
    def save(self, session: Session, document: Document, result: ResultT) -> None:
        """Store the outputs (replace, never append) in the finishing transaction."""


class FileStage(Stage[None, ResultT]):
    """A stage that needs only the file itself, nothing from earlier stages."""

    loads_from_claim = True

    def load(self, session: Session, document: Document) -> None:
        return None

    def inputs_from_claim(self, claimed: Mapping[str, Any]) -> None:
        return None


@dataclass(frozen=True)
class FanOutPlan:
    """What a fanned-out stage's ``run`` decided: the units of work, in batches.

    No batches means nothing to do: the stage is recorded ``skipped`` and the chain
    goes on at once.
    """

    batches: list[list[int]]
    #: Whatever the stage wants to keep about its decision (stored by ``save``).
    detail: dict[str, Any]

    @property
    def units(self) -> int:
        return sum(len(b) for b in self.batches)


class FanOutStage(Stage[InputsT, FanOutPlan], Generic[InputsT, BatchResultT]):
    """A stage that splits its work into batches, one task each, joined in the database.

    ``run`` plans (cheaply); each batch runs ``run_batch`` on any worker of the
    stage's queue and ``save_batch`` stores its result; ``fail_batch`` records units
    that could not be done after their retries (the document goes on without them);
    ``join`` runs once, in the transaction that ends the last batch.
    """

    @abstractmethod
    def run_batch(self, settings: Settings, doc: DocumentView, blob: Path, units: list[int]) -> BatchResultT:
        """Do one batch's work: no database, no Celery; bounded time and memory."""

    @abstractmethod
    def save_batch(self, session: Session, document: Document, units: list[int], result: BatchResultT) -> None:
        """Store one batch's outputs (replace, never append)."""

    @abstractmethod
    def fail_batch(self, session: Session, document: Document, units: list[int], code: str) -> None:
        """Record that these units could not be done (``code`` says why)."""

    @abstractmethod
    def join(self, settings: Settings, session: Session, document: Document) -> None:
        """After the last batch: combine the outputs; raise ``DocumentError`` to fail the document."""
