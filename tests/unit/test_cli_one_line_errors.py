"""Issue 10, item 2: one embedded instance per user, found from any directory, and
every ``aegis`` command that cannot reach its database or gateway says so in one line.

Before: ``aegis tenant create`` run from another directory created a new
``./aegis-data`` there and printed ~60 lines of SQLAlchemy traceback. The commands
run as a user runs them (a subprocess), with ``XDG_DATA_HOME`` pointing under
``tmp_path`` so the real user data directory is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEGIS_")}
    env.update(PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "xdg"), **extra)
    return env


def _aegis(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, "-m", "aegis.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_commands_run_from_any_directory_share_one_instance_in_the_user_data_dir(tmp_path: Path) -> None:
    env = _env(tmp_path)
    assert _aegis(tmp_path / "one", env, "db", "upgrade").returncode == 0
    created = _aegis(tmp_path / "two", env, "tenant", "create", "acme", "--json")
    assert created.returncode == 0, created.stderr
    listed = json.loads(_aegis(tmp_path / "three", env, "tenant", "list", "--json").stdout)
    assert [t["tenant"] for t in listed] == ["acme"]
    assert (tmp_path / "xdg" / "aegis" / "aegis.db").exists()
    assert not list(tmp_path.glob("*/aegis-data")), "no per-directory instance"


@pytest.mark.parametrize(
    "args",
    [["tenant", "create", "acme"], ["tenant", "list"], ["key", "list", "acme"], ["key", "create", "acme"],
     ["key", "revoke", "abc"], ["tenant", "set-callback", "acme"]],
)
def test_an_admin_command_without_a_database_says_so_in_one_line_and_creates_nothing(
    tmp_path: Path, args: list[str]
) -> None:
    env = _env(tmp_path, AEGIS_DATA_DIR=str(tmp_path / "nowhere"))
    line = _one_line_error(_aegis(tmp_path / "elsewhere", env, *args))
    assert "no Aegis database" in line and str(tmp_path / "nowhere") in line
    assert not (tmp_path / "nowhere").exists()
    assert not (tmp_path / "elsewhere" / "aegis-data").exists()


@pytest.mark.parametrize("args", [["tenant", "list"], ["db", "upgrade"]])
def test_a_database_server_that_is_down_is_one_line(tmp_path: Path, args: list[str]) -> None:
    env = _env(tmp_path, AEGIS_DATABASE_URL="postgresql://postgres@127.0.0.1:1/aegis")
    line = _one_line_error(_aegis(tmp_path, env, *args))
    assert "cannot use the database" in line


@pytest.mark.parametrize(
    "args",
    [["ls"], ["status", "abc"], ["search", "words"], ["reprocess", "abc"], ["rm", "abc"], ["upload", "{file}"],
     ["upload", "--wait", "{file}"]],
)
def test_client_commands_with_the_gateway_down_are_one_line(tmp_path: Path, args: list[str]) -> None:
    note = tmp_path / "note.txt"
    note.write_text("hello")
    env = _env(tmp_path, AEGIS_URL="http://127.0.0.1:1", AEGIS_API_KEY="aeg_test")
    line = _one_line_error(_aegis(tmp_path, env, *[a.format(file=note) for a in args]))
    assert "Cannot reach Aegis at http://127.0.0.1:1" in line and "connection refused" in line
