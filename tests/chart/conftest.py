"""Chart tests need the real Helm engine and the Kubernetes schemas.

Both come from the test extra (``helm-python-sdk``, ``kubernetes-validate``). Where
they are not installed the chart tests are not collected, and the test summary
says so, instead of every module failing on an import.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

import pytest

REQUIRED = {
    "helm_python": "helm-python-sdk",
    "kubernetes_validate": "kubernetes-validate",
    "jsonschema": "jsonschema",
    "referencing": "referencing",
    "yaml": "PyYAML",
}
MISSING = sorted(dist for module, dist in REQUIRED.items() if find_spec(module) is None)

if MISSING:
    collect_ignore_glob = ["test_*.py"]

    def pytest_terminal_summary(terminalreporter: Any) -> None:
        terminalreporter.write_line(
            f"tests/chart NOT RUN: missing {', '.join(MISSING)} (pip install -e '.[test]')", yellow=True
        )

else:
    from .chartlib import VALUE_SETS

    @pytest.fixture(params=sorted(VALUE_SETS))
    def value_set(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
        """Each named value set of chartlib.VALUE_SETS in turn."""
        return request.param, VALUE_SETS[request.param]
