"""The container image and the laptop compose file, read statically (no Docker here).

They must agree with the chart: the same user, the same commands, the same queues.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatch

import pytest
import yaml

from aegis.config import DEFAULT_TIME_LIMITS

from .chartlib import REPO, STAGES, arg_after, containers, render

DOCKERFILE = REPO / "deploy" / "Dockerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
COMPILERS = ("build-essential", "gcc", "g++", "clang", "make", "cc ")


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [arg for kw, arg in self.instructions if kw == keyword]


def _stages() -> list[Stage]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = arg.split()
            stages.append(Stage(parts[0], parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else ""))
        elif stages:
            stages[-1].instructions.append((keyword, arg.strip()))
    return stages


def test_image_is_multi_stage_and_ships_no_compilers() -> None:
    stages = _stages()
    assert len(stages) >= 2
    final = stages[-1]
    assert any(arg.startswith("--from=") for arg in final.all("COPY")), "the runtime copies the build's venv"
    runs = " ".join(final.all("RUN"))
    for compiler in COMPILERS:
        assert compiler not in runs, compiler
    assert "libmagic1" in runs
    assert "--no-install-recommends" in runs and "rm -rf /var/lib/apt/lists/*" in runs


def test_no_stage_installs_compilers_every_dependency_is_a_wheel() -> None:
    for stage in _stages():
        runs = " ".join(stage.all("RUN"))
        assert "build-essential" not in runs, stage.name


def test_dockerfile_needs_no_buildkit_frontend() -> None:
    """A ``# syntax=`` directive makes BuildKit pull a frontend image: offline builds fail."""
    for line in DOCKERFILE.read_text().splitlines():
        if not line.startswith("#"):
            break
        assert not re.match(r"#\s*syntax\s*=", line, re.IGNORECASE), line


def test_bytecode_is_compiled_for_our_code_not_for_dependencies_python2_files() -> None:
    """``compileall`` over the whole venv fails on olefile's Python 2 module
    (olefile/olefile2.py); the dependencies get bytecode by being imported instead."""
    runs = [arg for stage in _stages() for arg in stage.all("RUN") if "compileall" in arg]
    assert runs, "our code is compiled at build time (the root filesystem is read-only)"
    for run in runs:
        command = run[run.index("compileall"):]
        assert not re.search(r"/opt/aegis/lib(\s|$)", command), "compiles every dependency"
        for package in ("aegis", "tasks", "web", "celeryconfig.py"):
            assert f"/{package}" in command, package
    # Dependencies get bytecode only for what the processes import (deploy/precompile.py).
    assert any("precompile.py" in arg for arg in _stages()[-1].all("RUN"))


def test_runtime_has_tesseract_with_osd_english_and_the_documented_language_packs() -> None:
    final = _stages()[-1]
    runs = " ".join(final.all("RUN"))
    for package in ("libtesseract5", "tesseract-ocr-osd", "tesseract-ocr-eng"):
        assert re.search(rf"(^|\s){re.escape(package)}(\s|$)", runs), package
    # The `tesseract` program alone, from Debian's tesseract-ocr package of the library's own
    # version; installing the package would bring the training tools and their Cairo/Pango/X11.
    assert "apt-get download \"tesseract-ocr=$(dpkg-query -W -f='${Version}' libtesseract5)\"" in runs
    assert "./usr/bin/tesseract" in runs
    assert not re.search(r"install[^&]*\stesseract-ocr(\s|$)", runs), "the package with the training tools"
    args = dict(arg.split("=", 1) for arg in final.all("ARG") if "=" in arg)
    assert args["OCR_LANGUAGES"].strip('"').split() == ["deu", "fra", "spa"]
    # Each code becomes Debian's tesseract-ocr-<code> package, and the build checks it.
    assert "tesseract-ocr-$(" in runs and "${OCR_LANGUAGES}" in runs
    assert "--list-langs" in runs
    # The chart's default OCR languages are installed by default.
    values = yaml.safe_load((REPO / "helm" / "aegis" / "values.yaml").read_text())
    installed = {"eng", *args["OCR_LANGUAGES"].strip('"').split()}
    assert set(values["config"]["ocr"]["languages"].split("+")) <= installed


def test_botocore_keeps_the_models_of_s3_and_the_credential_services_only() -> None:
    """botocore ships ~400 service models (25 MB); the S3 blob store needs s3, and its
    credential providers sts (IRSA, assume-role), sso, sso-oidc and signin."""
    runs = " ".join(_stages()[0].all("RUN"))
    pruning = r'find "\$site/botocore/data" -mindepth 1 -maxdepth 1 -type d\s+((?:! -name \S+\s+)+)-exec rm'
    match = re.search(pruning, runs)
    assert match, "botocore's models are pruned in the build stage"
    kept = set(re.findall(r"! -name (\S+)", match.group(1)))
    assert kept == {"s3", "sts", "sso", "sso-oidc", "signin"}
    precompile = (REPO / "deploy" / "precompile.py").read_text()
    assert 'AWS_SERVICES = ("s3", "sts", "sso", "sso-oidc", "signin")' in precompile, "the build proves them"


def test_image_runs_as_the_non_root_user_the_chart_expects() -> None:
    final = _stages()[-1]
    (user,) = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, "numeric, so runAsNonRoot can check it"
    values = yaml.safe_load((REPO / "helm" / "aegis" / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == int(uid)
    assert values["containerSecurityContext"]["runAsUser"] == int(uid)
    assert values["podSecurityContext"]["runAsGroup"] == int(gid)


def test_tini_is_pid_1_so_celery_gets_sigterm() -> None:
    final = _stages()[-1]
    (entrypoint,) = final.all("ENTRYPOINT")
    assert json.loads(entrypoint)[0].endswith("/tini"), "exec form, tini first"
    assert "tini" in " ".join(final.all("RUN"))
    (cmd,) = final.all("CMD")
    assert isinstance(json.loads(cmd), list), "exec form"
    assert not final.all("STOPSIGNAL"), "SIGTERM is Celery's warm shutdown"


def test_image_has_no_healthcheck_probes_live_in_the_chart() -> None:
    assert all(not stage.all("HEALTHCHECK") for stage in _stages())


def test_build_context_keeps_out_what_the_image_does_not_need() -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]

    def ignored(path: str) -> bool:
        return any(fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)

    for path in (".git", ".venv", "tests", "helm", ".venv/bin/python"):
        assert ignored(path), path
    for path in (
        "aegis/config.py",
        "tasks/probes.py",
        "web/__init__.py",
        "celeryconfig.py",
        "setup.cfg",
        "pyproject.toml",
        "README.md",
    ):
        assert not ignored(path), path


# --------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _seconds(duration: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", duration))


def test_compose_runs_every_component(compose: dict) -> None:
    services = compose["services"]
    expected = {"postgres", "redis", "migrate", "gateway", "beat", "flower", *(f"worker-{s}" for s in STAGES)}
    assert expected <= set(services)
    images = {services[name]["image"] for name in expected - {"postgres", "redis"}}
    assert len(images) == 1, "one image for every Aegis process"


def test_compose_redis_keeps_an_append_only_file_and_never_evicts(compose: dict) -> None:
    command = compose["services"]["redis"]["command"]
    assert arg_after(command, "--appendonly") == "yes"
    assert arg_after(command, "--maxmemory-policy") == "noeviction"


def test_compose_workers_run_the_charts_command_one_queue_each(compose: dict) -> None:
    chart_workers = render().workers()
    for stage in STAGES:
        service = compose["services"][f"worker-{stage}"]
        command = service["command"]
        chart_args = containers(chart_workers[stage])[0]["args"]
        # Identical but for the pool size, which a laptop keeps small.
        strip = lambda args: [a for i, a in enumerate(args) if i == 0 or args[i - 1] != "--concurrency"]  # noqa: E731
        assert strip(command) == strip(chart_args), stage
        assert arg_after(command, "-Q") == stage
        assert _seconds(service["stop_grace_period"]) > DEFAULT_TIME_LIMITS[stage], stage


def test_compose_runs_one_beat_and_migrations_before_the_app(compose: dict) -> None:
    services = compose["services"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "tasks", "beat"]
    assert "deploy" not in services["beat"] and "scale" not in services["beat"]
    assert services["migrate"]["command"] == ["aegis", "db", "upgrade"]
    for name in ("gateway", "beat", "flower", *(f"worker-{s}" for s in STAGES)):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["read_only"] is True, name


def test_compose_flower_requires_basic_auth(compose: dict) -> None:
    assert compose["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"]
