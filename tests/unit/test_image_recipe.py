"""The container recipe's promises that can be checked without building it.

deploy/check-image.sh (run by CI) builds and runs the image for real; these catch the
mistakes that would only show there, minutes later: a BuildKit-only line, a root user,
an Aegis module that cannot be imported bare (deploy/precompile.py imports every one
while the image is built, so the build would fail on it).
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deploy" / "Dockerfile").read_text()


def _precompile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aegis_precompile", ROOT / "deploy" / "precompile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dockerfile_needs_no_buildkit_frontend_and_picks_its_base_by_argument() -> None:
    assert not re.search(r"^#\s*syntax\s*=", DOCKERFILE, re.MULTILINE)
    assert "RUN --mount" not in DOCKERFILE and "<<" not in DOCKERFILE  # BuildKit-only syntax
    first_from = DOCKERFILE.index("\nFROM ")
    assert DOCKERFILE.index("ARG PYTHON_IMAGE=") < first_from
    froms = re.findall(r"^FROM \$\{PYTHON_IMAGE\} AS (\w+)$", DOCKERFILE, re.MULTILINE)
    assert froms == ["build", "runtime"]


def test_image_runs_as_a_numeric_non_root_user_under_tini() -> None:
    users = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert users == ["10001:10001"]
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"]' in DOCKERFILE


def test_every_ocr_language_of_ci_is_installed_in_the_image() -> None:
    ci_packs = set(re.findall(r"tesseract-ocr-([a-z_-]+)", (ROOT / ".ci" / "run").read_text()))
    default = re.search(r'^ARG OCR_LANGUAGES="([^"]*)"', DOCKERFILE, re.MULTILINE)
    assert default
    image_packs = {"eng", "osd", *default.group(1).split()}
    assert ci_packs <= image_packs


def test_the_build_context_holds_the_precompile_script_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert "deploy" in ignore and "!deploy/precompile.py" in ignore
    assert "COPY deploy/precompile.py" in DOCKERFILE


def test_every_aegis_module_imports_bare_as_the_image_build_does() -> None:
    names = _precompile().our_modules()
    assert "aegis.pipeline.registry" in names and "web.gunicorn_conf" in names
    assert not [n for n in names if n.endswith("__main__")]
    for name in names:
        importlib.import_module(name)
