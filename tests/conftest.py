"""Shared test configuration: the project root on sys.path, the corpus location, and the
fixtures several test folders share (a moto S3 server, the AWS environment it needs)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.s3server import S3Server

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A real S3-compatible server (moto) for one test module; its buckets go with it."""
    from tests.s3server import running_s3

    with running_s3() as server:
        yield server


@pytest.fixture()
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test credentials in this process's environment, and nowhere else for boto3 to look."""
    from tests.s3server import CREDENTIALS

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
