"""Admission in the workers: a document that ends makes room for its tenant's next one."""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterable

from celery.signals import worker_process_shutdown, worker_shutdown

from aegis.persistence.db import session_scope
from aegis.pipeline import admission, chain
from tasks.app import app
from tasks.base import settings

log = logging.getLogger("aegis.admission")


def send_admitted(admitted: Iterable[admission.Admitted]) -> int:
    """Send the chains of documents whose admission has committed.

    A send that fails leaves an admitted document without a message: the
    reconciler re-sends it once its stage's deadline passes, so it is late, never lost.
    """
    sent = 0
    for doc in admitted:
        try:
            chain.send(app, doc.document_id, doc.token, doc.stage, priority=doc.priority)
            sent += 1
        except Exception as exc:  # noqa: BLE001 - the reconciler owns it now
            log.warning("could not enqueue admitted document: %s", exc, extra={"document_id": doc.document_id})
    return sent


def admit_after_end(document_id: str) -> None:
    """Fill the slot a document's end freed; never fails the caller.

    Every tenant with waiting work is a candidate, not only the ended document's:
    the slot is the installation's, and it goes to the tenant with the fewest in
    flight. With nothing waiting this is one index probe.
    """
    s = settings()
    try:
        with session_scope(s) as session:
            admitted = admission.admit(session, s)
    except Exception:  # noqa: BLE001 - the reconciler's admission pass is the safety net
        log.exception("admission after a document ended failed", extra={"document_id": document_id})
        return
    send_admitted(admitted)


def after_end(document_ids: list[str]) -> None:
    """Everything that follows documents' ends: their webhooks, then one admission pass.

    One pass fills every free slot, so ends that piled up share it.
    """
    from tasks.webhooks import notify_end

    for document_id in document_ids:
        notify_end(document_id)
    admit_after_end(document_ids[-1])


class _Background:
    """One thread per process that runs ``after_end`` off the stage's hot path.

    The task that ended a document returns at once, and its worker takes its next
    message (maybe a light tenant's next stage) while the pass runs. Admission's
    guarantees are the database's, not this thread's: a process that dies with ends
    still pending leaves free slots that the reconciler's admission pass fills on its
    next tick, and two passes never admit a document twice (its locks). What such a
    death loses is the pending webhooks, as a death just before ``notify_end`` always did.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pending: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="aegis-after-end", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            ids: list[str | None] = [self.pending.get()]
            while True:  # ends that arrived meanwhile share the pass
                try:
                    ids.append(self.pending.get_nowait())
                except queue.Empty:
                    break
            work = [i for i in ids if i is not None]
            if work:
                try:
                    after_end(work)
                except Exception:  # noqa: BLE001 - the reconciler's pass is the safety net
                    log.exception("after-end work failed")
            if None in ids:
                return

    def stop(self, timeout: float) -> None:
        """Finish what is pending (a pool child recycled after its tasks, a worker shutting down)."""
        self.pending.put(None)
        self.thread.join(timeout)


_background: _Background | None = None
_background_lock = threading.Lock()


def ended(document_id: str) -> None:
    """Hand a document's end to this process's background thread (started on first use).

    A forked pool child gets a thread (and queue) of its own: the parent's is not inherited.
    """
    global _background
    with _background_lock:
        if _background is None or _background.pid != os.getpid() or not _background.thread.is_alive():
            _background = _Background()
        _background.pending.put(document_id)


def flush(timeout: float = 10.0) -> None:
    """Run the pending after-end work before this process exits."""
    global _background
    with _background_lock:
        current, _background = _background, None
    if current is not None and current.pid == os.getpid():
        current.stop(timeout)


def _on_exit(**_: object) -> None:
    flush()


worker_process_shutdown.connect(_on_exit, weak=False)
worker_shutdown.connect(_on_exit, weak=False)


def admit_all() -> int:
    """One admission pass over every tenant with waiting work (the reconciler's tick, synchronous)."""
    s = settings()
    with session_scope(s) as session:
        admitted = admission.admit(session, s)
    return send_admitted(admitted)
