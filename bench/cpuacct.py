"""CPU seconds per component of a running stack, from ``/proc/<pid>/stat``.

Busy seconds in ``stage_runs`` say how long a stage held a document, not what the
machine spent on it: the claim and finish transactions run in PostgreSQL
backends, the broker in redis-server, Celery's own bookkeeping in the worker's
main process. This samples ``utime + stime`` of every process of each component (a worker's
main process and its pool children, every backend of one database) and reports
the delta over a phase.

A process seen for the first time after the phase started counts from zero (it
was born during the phase); one that exits between two samples loses at most one
sampling interval of its time. Linux only.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` in seconds; None when it is gone.

    Not cutime: a reaped child's time would then be counted twice, in its own
    last sample and in its parent's cutime.
    """
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after it are plain numbers.
    fields = raw[raw.rindex(")") + 2:].split()
    return sum(int(v) for v in fields[11:13]) / TICK


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (every thread's children file)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            out.extend(int(c) for c in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    found = [pid]
    for child in children(pid):
        found.extend(tree(child))
    return found


_listing: tuple[float, list[tuple[int, str, str]]] = (0.0, [])


def processes() -> list[tuple[int, str, str]]:
    """(pid, command name, command line) of every process; one /proc scan per 0.1 s at most."""
    global _listing
    now = time.monotonic()
    if now - _listing[0] < 0.1:
        return _listing[1]
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                comm = Path(f"/proc/{entry}/comm").read_text().strip()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found.append((int(entry), comm, cmdline))
    _listing = (now, found)
    return found


def pids_named(name: str, argument: str | None = None) -> list[int]:
    """Processes whose command name is ``name``, and whose command line holds ``argument`` if given.

    A PostgreSQL backend's title is ``postgres: USER DATABASE HOST(PORT) STATE``,
    so ``pids_named("postgres", " aegis_x ")`` finds one database's backends.
    """
    return [pid for pid, comm, cmdline in processes() if comm == name and (argument is None or argument in cmdline)]


class CpuMeter:
    """Samples components' processes on a thread; ``report()`` gives CPU seconds per component.

    ``components`` maps a name to a function returning that component's pids now
    (called every ``interval`` seconds, so pool children and new backends are seen).
    """

    def __init__(self, components: dict[str, Callable[[], Iterable[int]]], interval: float = 0.5) -> None:
        self.components = components
        self.interval = interval
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _sample(self, baseline: bool) -> None:
        for name, find in self.components.items():
            try:
                pids = list(find())
            except Exception:  # noqa: BLE001 - a component that vanished counts what it had
                continue
            for pid in pids:
                value = cpu_seconds(pid)
                if value is None:
                    continue
                key = (name, pid)
                if key not in self.first:
                    self.first[key] = value if baseline else 0.0
                self.last[key] = value

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(baseline=False)

    def start(self) -> None:
        self._sample(baseline=True)
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        self._sample(baseline=False)
        totals: dict[str, float] = {name: 0.0 for name in self.components}
        for key, value in self.last.items():
            totals[key[0]] += max(0.0, value - self.first[key])
        return totals
