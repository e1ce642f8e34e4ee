"""``aegis upload``: one progress bar per file (bytes sent, then the stages),
and a summary table at the end.

Each bar runs from 0 to 100: the upload fills the first fifth, each finished
stage an equal share of the rest, so a glance shows where every document is. A
stage that reports pages (OCR) fills its share page by page and says "ocr 12/40".

Bars and a boxed table are for a terminal. Piped or redirected (a script, CI, a
log file), rich would cut the table to a guessed width: statuses came out as
"rejected (du" and the error column was dropped. There the bars are left out and
the summary is plain tab-separated lines, every value complete.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from aegis.cli.client import TERMINAL, ApiError, Client
from aegis.pipeline.registry import STAGES
from aegis.vocabulary import StageStatus

UPLOAD_SHARE = 20.0
STAGE_SHARE = (100.0 - UPLOAD_SHARE) / len(STAGES)
POLL_SECONDS = 0.5
_STAGE_DONE = (StageStatus.SUCCEEDED, StageStatus.SKIPPED, StageStatus.FAILED)


def _stage_progress(doc: dict[str, Any]) -> tuple[float, str]:
    done = sum(1 for run in doc["stages"].values() if run["status"] in _STAGE_DONE)
    if doc["status"] in TERMINAL:
        label = doc["status"] if not doc["error"] else f"{doc['status']}: {doc['error']['code']}"
        return 100.0, label
    stage = doc.get("stage") or doc["status"]
    run = doc["stages"].get(stage) or {}
    total = run.get("pages_total")
    if total and run.get("status") not in _STAGE_DONE:
        pages = run.get("pages_done") or 0
        return UPLOAD_SHARE + (done + pages / total) * STAGE_SHARE, f"{stage} {pages}/{total}"
    return UPLOAD_SHARE + done * STAGE_SHARE, stage


def run_upload(
    client: Client, files: list[Path], *, wait: bool, timeout: float, password: str | None, quiet: bool
) -> list[dict[str, Any]]:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True, quiet=quiet)
    if not console.is_terminal:
        console.quiet = True  # live bars need a terminal; the summary says it all
    results: list[dict[str, Any]] = []
    columns = (TextColumn("{task.fields[name]}", style="bold"), BarColumn(),
               TextColumn("{task.fields[state]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        bars = {}
        for path in files:
            name = path.name if len(path.name) <= 40 else path.name[:37] + "…"
            bars[path] = progress.add_task("", total=100.0, name=name, state="waiting")
        for path in files:
            bar = bars[path]
            size = max(path.stat().st_size, 1)
            progress.update(bar, state="uploading")

            def sent(n: int, bar: Any = bar, size: int = size) -> None:
                progress.advance(bar, UPLOAD_SHARE * n / size)

            try:
                doc = client.upload(path, progress=sent, password=password)
            except ApiError as exc:
                progress.update(bar, completed=100.0, state=f"error: {exc.code}")
                results.append({"file": str(path), "id": None, "status": "error",
                                "error": {"code": exc.code, "message": exc.detail}, "duplicate": False})
                continue
            done, state = _stage_progress(doc)
            if doc.get("duplicate"):
                state = f"duplicate, {state}"
            progress.update(bar, completed=done if wait or doc["status"] in TERMINAL else UPLOAD_SHARE, state=state)
            results.append({"file": str(path), "id": doc["id"], "status": doc["status"], "error": doc["error"],
                            "duplicate": bool(doc.get("duplicate")), "document": doc})
        if wait:
            _follow(client, results, bars, files, progress, timeout)
    for r in results:
        r.pop("document", None)
    if not quiet:
        out = Console()
        if out.is_terminal:
            _summary(out, results, wait)
        else:
            _plain_summary(results)
    return results


def _follow(client: Client, results: list[dict[str, Any]], bars: dict[Path, Any], files: list[Path],
            progress: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = [i for i, r in enumerate(results) if r["id"] and r["status"] not in TERMINAL]
    while pending and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        still = []
        for i in pending:
            try:
                doc = client.document(results[i]["id"])
            except ApiError:
                still.append(i)
                continue
            done, state = _stage_progress(doc)
            progress.update(bars[files[i]], completed=done, state=state)
            results[i].update(status=doc["status"], error=doc["error"], document=doc)
            if doc["status"] not in TERMINAL:
                still.append(i)
        pending = still
    for i in pending:
        results[i]["status"] = results[i]["status"] + " (still running at timeout)"


def _row(r: dict[str, Any]) -> tuple[str, str, str, str]:
    error = f"{r['error']['code']}: {r['error']['message']}" if r["error"] else ""
    status = r["status"] + (" (duplicate)" if r["duplicate"] else "")
    return Path(r["file"]).name, r["id"] or "-", status, error


def _counts(results: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def _plain_summary(results: list[dict[str, Any]]) -> None:
    """One complete line per file, tab-separated, for scripts and logs (no width to fit)."""
    import click

    click.echo("\t".join(("file", "document id", "status", "error")))
    for r in results:
        click.echo("\t".join(" ".join(value.split()) for value in _row(r)))
    click.echo(_counts(results))


def _summary(console: Any, results: list[dict[str, Any]], waited: bool) -> None:
    from rich.table import Table

    table = Table(title="Uploads" + (" (final status)" if waited else ""))
    table.add_column("file", no_wrap=True)
    table.add_column("document id", no_wrap=True, min_width=36)
    table.add_column("status", no_wrap=True)
    table.add_column("error", overflow="fold")
    for r in results:
        table.add_row(*_row(r))
    console.print(table)
    console.print(_counts(results))
