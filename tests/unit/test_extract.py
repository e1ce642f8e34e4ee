"""``aegis extract``: every stage in this process, through the workers' own runner, nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus import CORPUS
from tests.scans import recall, scan_pages, text_layer

ROOT = Path(__file__).resolve().parents[2]


def _aegis(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AEGIS_DATA_DIR": str(tmp_path / "data"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    env.pop("AEGIS_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "aegis.cli", "extract", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )


def test_json_lines_carry_status_metadata_pages_chunks_and_ai(tmp_path: Path) -> None:
    pdf = CORPUS / "pdf" / "pdflatex-4-pages.pdf"
    note = tmp_path / "note.txt"
    note.write_text("Aegis extracts text from documents without any server at all.\n" * 5)
    done = _aegis(tmp_path, "--json", str(pdf), str(note))
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert (first["file"], first["status"], first["error"], first["mime"]) == (str(pdf), "succeeded", None,
                                                                              "application/pdf")
    assert [p["number"] for p in first["pages"]] == [1, 2, 3, 4] and first["metadata"]["pages"] == 4
    assert first["chunks"] >= 1 and first["ai"]["summary"]
    assert second["status"] == "succeeded" and second["mime"].startswith("text/")
    assert not (tmp_path / "data").exists() and not (tmp_path / "xdg").exists(), "extract writes nothing"


def test_a_scan_is_read_by_ocr_and_text_prints_only_the_text(tmp_path: Path) -> None:
    source = CORPUS / "pdf" / "google-doc-document.pdf"
    (image,) = scan_pages(source, [1])
    png = tmp_path / "page.png"
    image.save(png, dpi=(200, 200))  # as a scanner writes it
    done = _aegis(tmp_path, "--text", "--no-ai", str(png))
    assert done.returncode == 0, done.stderr
    assert recall(text_layer(source, [1]), done.stdout) >= 0.95


def test_a_rejected_file_exits_1_and_says_why(tmp_path: Path) -> None:
    done = _aegis(tmp_path, str(CORPUS / "pdf" / "password.pdf"))
    assert done.returncode == 1
    assert "rejected (encrypted" in done.stdout


@pytest.mark.parametrize("args", [["--json", "--text", "x"], ["/no/such/file.pdf"], []])
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    assert _aegis(tmp_path, *args).returncode == 2
