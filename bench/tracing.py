"""What OpenTelemetry tracing costs the running pipeline: on against off, in the same run.

Runs bench/pipeline.py's real stack (gunicorn gateway, one Celery worker per queue,
PostgreSQL, Redis) over the corpus PDFs with tracing off, then on (exporting over
OTLP/HTTP to a local receiver that decodes every span, as a collector would), in the
order off, on, on, off so drift on a shared machine falls on both sides equally.

    .venv/bin/python bench/tracing.py [--limit 20] [--concurrency 1]

Prints seconds and documents per second for each run and the ratio on/off.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pipeline import through_pipeline  # noqa: E402

from tests.harness import CORPUS  # noqa: E402
from tests.otlp_receiver import OtlpReceiver  # noqa: E402


def run(paths: list[Path], concurrency: int, receiver: OtlpReceiver | None) -> float:
    """Seconds for every document to end, with the stack's processes tracing when ``receiver`` is given."""
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("OTEL_")}
    try:
        if receiver is not None:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            os.environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
        seconds, outcomes, _report = through_pipeline(paths, concurrency, clients=4)
    finally:
        for key in [k for k in os.environ if k.startswith("OTEL_")]:
            del os.environ[key]
        os.environ.update(saved)
    label = "on " if receiver is not None else "off"
    print(f"tracing {label}: {seconds:7.2f} s  {len(paths) / seconds:6.2f} docs/s  {outcomes}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="only the first N PDFs (0: all)")
    parser.add_argument("--concurrency", type=int, default=1, help="processes per stage worker")
    args = parser.parse_args()
    paths = sorted((CORPUS / "pdf").glob("*.pdf"))
    if args.limit:
        paths = paths[: args.limit]
    print(f"{len(paths)} PDFs from {CORPUS / 'pdf'}")
    off: list[float] = []
    on: list[float] = []
    with OtlpReceiver() as receiver:
        off.append(run(paths, args.concurrency, None))
        on.append(run(paths, args.concurrency, receiver))
        on.append(run(paths, args.concurrency, receiver))
        off.append(run(paths, args.concurrency, None))
        spans = len(receiver.received())
    print(f"spans received while on: {spans} ({spans / (2 * len(paths)):.0f} per document)")
    print(f"ratio time on/off: {sum(on) / sum(off):.3f}")


if __name__ == "__main__":
    main()
