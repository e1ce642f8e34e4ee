"""Make each test's outcome visible to fixtures, so a module's stack can print its
process logs when something failed (a browser test failing without the worker logs
is hard to diagnose in CI)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    report = yield
    if report.failed:
        item.module.__dict__.setdefault("_failed_tests", []).append(item.nodeid)  # type: ignore[union-attr]
    return report
