"""The worker's preload before fork: every listed module imports, a missing one is reported, not raised."""

from __future__ import annotations

import sys

from aegis.pipeline.runner_warmup import MODULES, preload


def test_every_preloaded_module_is_installed() -> None:
    assert preload() == []
    assert all(name in sys.modules for name in MODULES)


def test_a_module_that_cannot_be_imported_is_reported_and_the_rest_still_load() -> None:
    assert preload(("aegis_no_such_module", "json")) == ["aegis_no_such_module"]
    assert "json" in sys.modules


def test_pdfium_is_left_to_the_pool_children() -> None:
    # It initialises its C library on import; each child starts its own.
    assert not any(name.startswith("pypdfium2") for name in MODULES)
