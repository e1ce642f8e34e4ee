"""Noticing that the broker lost its messages.

A Redis without persistence that restarts, a RabbitMQ node that comes back on an
empty disk, a failover to a replica that had not caught up: the broker is back but
every queued message is gone. Waiting for each stage's time limit before re-sending
would freeze every in-flight document for minutes, so the reconciler keeps a marker
in the broker, named by an epoch the database remembers (``broker_epochs``), and
checks it on every pass. The database names a marker the broker no longer has: the
broker lost its data, and the reconciler sends every in-flight document again at
once (``reconciler.after_broker_loss``). A broker that comes back with its data (AOF,
durable quorum queues) still has the marker, so nothing is sent twice.

The marker is a key on Redis and a durable, empty queue on RabbitMQ: each lives
exactly as long as the broker's own data does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from aegis.persistence.models import BrokerEpoch, new_id, utcnow

if TYPE_CHECKING:
    from kombu import Connection

MARKER_KEY = "aegis:broker:epoch:{epoch}"
MARKER_QUEUE = "aegis.broker.epoch.{epoch}"
REDIS_SCHEMES = ("redis", "rediss", "sentinel")
AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


class Marker(Protocol):
    """Where the broker keeps the epoch marker; lives and dies with the broker's data."""

    def exists(self, epoch: str) -> bool: ...

    def create(self, epoch: str) -> None: ...

    def remove(self, epoch: str) -> None: ...

    def started_at(self) -> datetime | None:
        """When the broker process started, if it says: messages sent since are safe."""
        ...


class RedisMarker:
    """A plain key without expiry in the broker's Redis database."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def exists(self, epoch: str) -> bool:
        return bool(self.client.exists(MARKER_KEY.format(epoch=epoch)))

    def create(self, epoch: str) -> None:
        self.client.set(MARKER_KEY.format(epoch=epoch), utcnow().isoformat())

    def remove(self, epoch: str) -> None:
        self.client.delete(MARKER_KEY.format(epoch=epoch))

    def started_at(self) -> datetime | None:
        """Unknown: every in-flight document not moved since the check is sent again.

        Deriving the restart from ``uptime_in_seconds`` missed documents that moved in
        the second before the restart (whole seconds, another clock); a duplicate
        message costs nothing (claims drop it), a missed one waits a stage's time limit.
        """
        return None


class AmqpMarker:
    """A durable, never-used queue: RabbitMQ keeps it exactly as long as it keeps the stage queues.

    Checked with a passive declare, which fails with 404 when the queue is gone.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def exists(self, epoch: str) -> bool:
        from amqp.exceptions import NotFound

        channel = self.connection.channel()
        try:
            channel.queue_declare(queue=MARKER_QUEUE.format(epoch=epoch), passive=True)
        except NotFound:
            return False
        finally:
            _close_quietly(channel)
        return True

    def create(self, epoch: str) -> None:
        channel = self.connection.channel()
        try:
            channel.queue_declare(
                queue=MARKER_QUEUE.format(epoch=epoch), durable=True, auto_delete=False,
                arguments={"x-queue-type": "quorum"},
            )
        finally:
            _close_quietly(channel)

    def remove(self, epoch: str) -> None:
        channel = self.connection.channel()
        try:
            channel.queue_delete(queue=MARKER_QUEUE.format(epoch=epoch))
        finally:
            _close_quietly(channel)

    def started_at(self) -> datetime | None:
        return None


def _close_quietly(channel: Any) -> None:
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - a channel closed by the server (404) is already gone
        pass


def scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def supported(broker_url: str) -> bool:
    """The filesystem broker of ``aegis dev`` cannot lose messages on its own: no marker."""
    return scheme(broker_url.split(";")[0]) in REDIS_SCHEMES + AMQP_SCHEMES


@dataclass(frozen=True)
class Check:
    """The outcome of one pass: ``lost`` with the moment before which messages may be gone."""

    lost: bool
    epoch: str
    resend_before: datetime | None


def check(session: Session, marker: Marker, now: datetime | None = None) -> Check:
    """Compare the database's epoch with the broker's marker; start a new epoch on loss.

    The first pass ever only writes a marker: there is nothing to compare with yet.
    The new marker is written before the database row commits, so a crash in between
    costs one unneeded re-send on the next pass (harmless), never a missed loss.
    The row is locked, so two reconcile passes at once cannot both see a loss.
    """
    now = now or utcnow()
    row = session.get(BrokerEpoch, 1, with_for_update=True)
    if row is None:
        epoch = new_id()
        marker.create(epoch)
        session.add(BrokerEpoch(id=1, epoch=epoch, seen_at=now, lost_count=0))
        session.flush()
        return Check(False, epoch, None)
    if marker.exists(row.epoch):
        row.seen_at = now
        return Check(bool(row.resend_before), row.epoch, row.resend_before)
    epoch = new_id()
    marker.create(epoch)
    started = marker.started_at()
    # Messages sent after the broker restarted are safe in it; without that date,
    # everything not yet moved on since this pass is sent again.
    row.epoch = epoch
    row.seen_at = now
    row.lost_count += 1
    row.resend_before = min(started, now) if started is not None else now
    return Check(True, epoch, row.resend_before)


def finish_resend(session: Session) -> None:
    """Every document the loss affected was sent again: later passes are ordinary ones."""
    row = session.get(BrokerEpoch, 1, with_for_update=True)
    if row is not None:
        row.resend_before = None
