"""The contract every pipeline stage implements, and the document view it gets.

A stage is three steps so the runner can keep transactions short: ``load`` reads
what the stage needs from earlier stages inside the claim transaction, ``run``
does the slow work with no transaction open (and no database access), ``save``
writes the outputs in the finishing transaction. Outputs are replaced, never
appended, so a re-run leaves exactly one copy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from aegis.config import Settings
    from aegis.persistence.models import Document

InputsT = TypeVar("InputsT")
ResultT = TypeVar("ResultT")


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
        return cls(
            id=document.id,
            tenant_id=document.tenant_id,
            filename=document.filename,
            sha256=document.sha256,
            size=document.size,
            mime=document.mime,
            family=document.family,
            metadata=document.doc_metadata,
        )


class Stage(ABC, Generic[InputsT, ResultT]):
    """One step of the chain: ``load`` → ``run`` → ``save``."""

    @abstractmethod
    def load(self, session: Session, document: Document) -> InputsT:
        """Read what ``run`` needs from earlier stages (inside the claim transaction)."""

    @abstractmethod
    def run(self, settings: Settings, doc: DocumentView, blob: Path, inputs: InputsT) -> ResultT:
        """The work itself: no database, no Celery; raise ``DocumentError`` for a bad file."""

    @abstractmethod
    def save(self, session: Session, document: Document, result: ResultT) -> None:
        """Store the outputs (replace, never append) in the finishing transaction."""


class FileStage(Stage[None, ResultT]):
    """A stage that needs only the file itself, nothing from earlier stages."""

    def load(self, session: Session, document: Document) -> None:
        return None
