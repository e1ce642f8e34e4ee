"""PPTX and XLSX output pinned to what the code gave before the speed work of issue 16.

Each corpus deck and workbook's validate details, metadata and pages (from the package
validate lends and from one opened afresh, as the content stage does) are digested and
compared with ``data/office_outputs.json``, written by the code of main at 9e1d314. A
faster reader must give the same text; if a change is meant to alter the output,
regenerate the file with ``python -m tests.unit.test_formats_office_outputs`` and say why
in the commit.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aegis.formats import DocumentError, Limits, extract_metadata, extract_pages, validate
from tests.corpus import CORPUS

PINNED = Path(__file__).parent / "data" / "office_outputs.json"
OFFICE = CORPUS / "office"
SUFFIXES = (".pptx", ".xlsx", ".ppt")  # the corpus's .ppt is a renamed PPTX


def digest(path: Path) -> str:
    """One file's detection, metadata and pages, lent and fresh, as a SHA-256 of their JSON."""
    record: dict[str, Any]
    try:
        detection = validate(path, path.name, Limits())
        fresh = replace(detection, container=None)
        record = {
            "family": detection.family,
            "details": detection.details,
            "pages": [[page.number, page.text] for page in extract_pages(path, detection, Limits())],
            "fresh": [[page.number, page.text] for page in extract_pages(path, fresh, Limits())],
            "meta": extract_metadata(path, fresh, Limits()),
        }
    except DocumentError as exc:
        record = {"error": exc.code}
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()


def _files() -> list[Path]:
    return sorted(p for p in OFFICE.iterdir() if p.suffix in SUFFIXES) if OFFICE.is_dir() else []


@pytest.mark.skipif(not _files(), reason="shared corpus not present")
def test_pptx_and_xlsx_output_is_what_the_previous_readers_gave() -> None:
    pinned = json.loads(PINNED.read_text())
    assert sorted(pinned) == [p.name for p in _files()]
    changed = [p.name for p in _files() if digest(p) != pinned[p.name]]
    assert changed == []


if __name__ == "__main__":
    json.dump({p.name: digest(p) for p in _files()}, sys.stdout, indent=1, sort_keys=True)
    print()
