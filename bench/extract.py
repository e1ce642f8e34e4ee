"""Benchmark: Aegis's extraction against kreuzberg's, per format family, on the same files.

Run from the project root:  .venv/bin/python bench/extract.py [--repeat N] [--folders office,email] [extra dirs...]

kreuzberg (a Rust extractor with Python bindings) is never a dependency of Aegis:
it lives in the benchmark's own virtualenv, ``bench/.venv-kreuzberg``, which this
script creates with ``pip install kreuzberg`` the first time (or make it yourself:
``python3 -m venv bench/.venv-kreuzberg && bench/.venv-kreuzberg/bin/pip install kreuzberg``).

Each engine runs in its own child process over every file of the shared corpus
(pdf, office, email, text) plus any extra folders: one untimed pass to warm the
process (imports, caches), then ``--repeat`` timed passes keeping each file's best
time, which damps the noise of a shared machine. The two children take turns file
by file (Aegis reads a file, then kreuzberg reads it, then the next file), so a
change of load on a shared machine weighs on both sides of a ratio alike; run one
after the other, a load spike during one engine's passes skewed every family.
Aegis's time is ``validate`` then ``extract_pages`` in one process, validate lending
its opened package (what ``aegis extract`` does); the "staged" columns time the same
again with nothing lent, as the pipeline runs it (the content stage rebuilds its
Detection from the database and reopens the file). kreuzberg's is ``extract_file_sync``
with OCR and its cache off (Aegis runs OCR in a stage of its own). Files are grouped
by the family Aegis detects (the extension's family when Aegis rejects the file).
Per family it prints both times, their ratio, how many files each read, the
text-length ratio over the files both read, the staged time and its ratio, and the
time ratio over the files both read. ``uptime`` is printed before and after:
only the ratio within one run means something. Not a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"
FOLDERS = ("pdf", "office", "email", "text")
KREUZBERG_VENV = ROOT / "bench" / ".venv-kreuzberg"


def _aegis_reader() -> object:
    sys.path.insert(0, str(ROOT))
    from dataclasses import replace

    from aegis.formats import DocumentError, Limits, extract_pages, validate
    from aegis.formats.names import extension_of
    from aegis.formats.registry import REGISTRY

    limits = Limits()

    def read(path: Path, *, lend: bool = True) -> tuple[str, int]:
        family = REGISTRY.extensions.get(extension_of(path.name), "other")
        try:
            detection = validate(path, path.name, limits)
        except DocumentError as exc:
            raise _Failed(family, exc.code) from exc
        if not lend:  # the content stage rebuilds its Detection from the database: nothing lent
            detection = replace(detection, container=None)
        try:
            pages = extract_pages(path, detection, limits)
        except DocumentError as exc:
            raise _Failed(detection.family, exc.code) from exc
        return detection.family, sum(len(page.text) for page in pages)

    return read


def _kreuzberg_reader() -> object:
    import logging

    import kreuzberg

    logging.disable(logging.WARNING)
    config = kreuzberg.ExtractionConfig(use_cache=False, disable_ocr=True)

    def read(path: Path) -> tuple[str, int]:
        try:
            result = kreuzberg.extract_file_sync(path, config=config)
        except Exception as exc:  # noqa: BLE001 - any failure is "did not read this file"
            raise _Failed("", type(exc).__name__) from exc
        return "", len(result.content or "")

    return read


class _Failed(Exception):
    def __init__(self, family: str, code: str) -> None:
        super().__init__(code)
        self.family, self.code = family, code


def serve(engine: str) -> None:
    """Read the file named on each stdin line; answer one JSON line: family, chars, error, seconds."""
    read = _aegis_reader() if engine == "aegis" else _kreuzberg_reader()
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.rstrip("\n")
        started = time.perf_counter()
        try:
            family, chars = read(Path(name))  # type: ignore[operator]
            error = None
        except _Failed as failed:
            family, chars, error = failed.family, 0, failed.code
        took = time.perf_counter() - started
        answer = {"family": family, "chars": chars, "error": error, "seconds": took}
        if engine == "aegis":  # again, the way the validate and content stages run it (two processes)
            started = time.perf_counter()
            try:
                read(Path(name), lend=False)  # type: ignore[operator]
            except _Failed:
                pass
            answer["staged"] = time.perf_counter() - started
        print(json.dumps(answer), flush=True)


class _Engine:
    """A serving child process: one file per request, timed inside the child."""

    def __init__(self, python: Path | str, engine: str) -> None:
        self.process = subprocess.Popen(
            [str(python), __file__, "--serve", engine],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # parsers' warnings about damaged files
            text=True,
            cwd=ROOT,
        )
        self.results: dict[str, dict[str, Any]] = {}
        assert self.process.stdout is not None
        while self.process.stdout.readline().strip() != "ready":
            if self.process.poll() is not None:
                raise RuntimeError(f"the {engine} child exited before it was ready")

    def read(self, name: str, timed: bool) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(name + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        entry = self.results.setdefault(name, {**answer, "seconds": float("inf"), "staged": float("inf")})
        if timed:
            entry["seconds"] = min(float(entry["seconds"]), float(answer["seconds"]))
            entry["staged"] = min(float(entry["staged"]), float(answer.get("staged", "inf")))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


Results = dict[str, dict[str, Any]]


def _run_both(kreuzberg_python: Path, repeat: int, files: list[Path]) -> tuple[Results, Results]:
    """A warm-up pass, then ``repeat`` timed passes, the two engines alternating file by file."""
    ours, theirs = _Engine(sys.executable, "aegis"), _Engine(kreuzberg_python, "kreuzberg")
    try:
        for attempt in range(repeat + 1):
            for path in files:
                ours.read(str(path), timed=attempt > 0)
                theirs.read(str(path), timed=attempt > 0)
    finally:
        ours.close()
        theirs.close()
    return ours.results, theirs.results


def _kreuzberg_python() -> Path:
    python = KREUZBERG_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {KREUZBERG_VENV.relative_to(ROOT)} with kreuzberg ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(KREUZBERG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "kreuzberg"], check=True)
    return python


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str]) -> None:
    repeat = 3
    corpus_folders: tuple[str, ...] = FOLDERS
    while argv[:1] in (["--repeat"], ["--folders"]):
        if argv[0] == "--repeat":
            repeat = int(argv[1])
        else:  # a subset of the corpus, e.g. "office,email": more passes in the same time
            corpus_folders = tuple(name for name in argv[1].split(",") if name)
        argv = argv[2:]
    folders = [CORPUS / folder for folder in corpus_folders] + [Path(arg) for arg in argv]
    files = sorted(path for folder in folders if folder.is_dir() for path in folder.iterdir() if path.is_file())
    if not files:
        sys.exit(f"no files in {', '.join(map(str, folders))}")
    kreuzberg_python = _kreuzberg_python()
    print(f"{len(files)} files; best of {repeat} timed passes after a warm-up pass")
    print("before:", _uptime())
    ours, theirs = _run_both(kreuzberg_python, repeat, files)
    print("after: ", _uptime())

    families: dict[str, list[str]] = {}
    for name, entry in ours.items():
        families.setdefault(str(entry["family"]), []).append(name)
    header = (
        f"{'family':8s} {'files':>5s} {'aegis s':>9s} {'kreuzberg s':>11s} {'time ratio':>10s}"
        f" {'aegis ok':>8s} {'kz ok':>6s} {'text ratio':>10s} {'staged s':>9s} {'staged ratio':>12s}"
        f" {'both-ok ratio':>13s}"
    )
    print(header)
    rows = sorted(families.items(), key=lambda kv: kv[0])
    for family, names in [*rows, ("ALL", list(ours))]:
        a = sum(float(ours[n]["seconds"]) for n in names)
        staged = sum(float(ours[n]["staged"]) for n in names)
        k = sum(float(theirs[n]["seconds"]) for n in names)
        a_ok = sum(1 for n in names if ours[n]["error"] is None)
        k_ok = sum(1 for n in names if theirs[n]["error"] is None)
        both = [n for n in names if ours[n]["error"] is None and theirs[n]["error"] is None]
        a_chars = sum(int(ours[n]["chars"]) for n in both)
        k_chars = sum(int(theirs[n]["chars"]) for n in both)
        text = f"{a_chars / k_chars:10.2f}" if k_chars else f"{'-':>10s}"
        # The time ratio again over the files both read (kreuzberg gives up on some quickly).
        k_both = sum(float(theirs[n]["seconds"]) for n in both)
        both_ratio = sum(float(ours[n]["seconds"]) for n in both) / k_both if k_both else float("inf")
        print(
            f"{family:8s} {len(names):5d} {a:9.3f} {k:11.3f} {a / k if k else float('inf'):9.2f}x"
            f" {a_ok:8d} {k_ok:6d} {text} {staged:9.3f} {staged / k if k else float('inf'):11.2f}x"
            f" {both_ratio:12.2f}x"
        )
    failures = {
        Path(n).name: (ours[n]["error"], theirs[n]["error"])
        for n in ours
        if ours[n]["error"] is not None or theirs[n]["error"] is not None
    }
    print("not read by one or both (aegis code, kreuzberg error):")
    for name, (mine, other) in sorted(failures.items()):
        print(f"    {name}: {mine or 'ok'} / {other or 'ok'}")
    slowest = sorted(ours, key=lambda n: -float(ours[n]["seconds"]))[:5]
    print("aegis slowest: " + ", ".join(f"{Path(n).name} {float(ours[n]['seconds']):.3f} s" for n in slowest))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        serve(sys.argv[2])
    else:
        main(sys.argv[1:])
