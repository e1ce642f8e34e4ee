"""The vocabulary is the one list of statuses and codes: complete, used, and the
source the code, the gateway, the OpenAPI spec and the README agree with.

The source scans read ``aegis/``, ``tasks/`` and ``web/`` with ``ast``, so a code
raised as a bare string (which the type checker cannot always catch: ``DocumentError``
still accepts strings while other branches merge) fails here, not in a client.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from aegis.formats.base import DocumentError
from aegis.vocabulary import (
    ERRORS,
    HTTP_CODES,
    DocumentStatus,
    ErrorCode,
    ErrorKind,
    StageStatus,
    code_for_http_status,
    is_rejection,
    markdown_table,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("aegis", "tasks", "web")
# The CLI's own ApiError describes answers it received (or could not get); its codes
# ("no_api_key", "unreachable") never leave the client, so they are not the service's.
NOT_THE_SERVICE = {Path("aegis/cli/client.py")}

# Callables that take a code, and where: a position, and the keyword ``code``.
CODE_POSITION = {
    "DocumentError": 0,
    "ApiError": 0,
    "problem": 0,
    "PermanentAIError": 0,
    "WebhookError": 0,
    "fail_document": 2,
    "_end": 4,
    "TransientAIError": None,
    "AIError": None,
}
CODE_NAMES = {"code", "error_code"}


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or relative in NOT_THE_SERVICE:
                continue
            yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _code_arguments(call: ast.Call) -> Iterator[ast.expr]:
    position = CODE_POSITION.get(_callee(call) or "")
    if position is not None and len(call.args) > position:
        yield call.args[position]
    for keyword in call.keywords:
        if keyword.arg == "code":  # also events.publish(..., code=...)
            yield keyword.value


def _strings(node: ast.expr) -> list[str]:
    """Non-empty string constants in ``node``, looking through conditionals and collections."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [s for value in node.values for s in _strings(value)]
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return [s for element in node.elts for s in _strings(element)]
    return []


def _is_code_target(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr in CODE_NAMES) or (
        isinstance(node, ast.Name) and node.id in CODE_NAMES
    )


def _bare_string_codes() -> list[str]:
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            strings: list[str] = []
            if isinstance(node, ast.Call):
                strings = [s for argument in _code_arguments(node) for s in _strings(argument)]
            elif isinstance(node, ast.Assign) and any(_is_code_target(t) for t in node.targets):
                strings = _strings(node.value)
            elif isinstance(node, ast.AnnAssign) and node.value is not None and _is_code_target(node.target):
                strings = _strings(node.value)
            elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute):
                if node.left.attr in CODE_NAMES:
                    strings = [s for comparator in node.comparators for s in _strings(comparator)]
            found.extend(f"{path}:{getattr(node, 'lineno', 0)}: {s!r}" for s in strings)
    return found


def _error_code_references() -> list[tuple[Path, int, str]]:
    return [
        (path, node.lineno, node.attr)
        for path, tree in _sources()
        if path != Path("aegis/vocabulary.py")
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "ErrorCode"
    ]


# -- the vocabulary itself -------------------------------------------------------------


def test_every_code_is_declared_once_with_a_kind_and_a_sentence() -> None:
    assert list(ERRORS) == list(ErrorCode)
    for code, item in ERRORS.items():
        assert item.code is code
        assert isinstance(item.kind, ErrorKind)
        assert item.message.strip() and item.message.endswith("."), code  # a sentence people read
        assert code.value == code.name.lower()


def test_http_statuses_follow_the_kind() -> None:
    for code, item in ERRORS.items():
        if item.kind is ErrorKind.REJECTED:
            assert item.http_status == 422, code
        elif item.kind is ErrorKind.API and item.http_status is not None:
            assert 400 <= item.http_status < 500, code
        elif item.http_status is not None:
            assert item.http_status in (500, 503), code


def test_statuses_are_the_ones_the_database_holds() -> None:
    assert [str(s) for s in DocumentStatus] == ["queued", "processing", "succeeded", "failed", "rejected"]
    assert [str(s) for s in StageStatus] == ["pending", "running", "succeeded", "failed", "skipped"]
    assert DocumentStatus.FAILED == "failed"  # StrEnum: rows and JSON need no conversion


def test_werkzeug_statuses_map_to_declared_api_codes() -> None:
    assert code_for_http_status(404) is ErrorCode.NOT_FOUND
    assert code_for_http_status(413) is ErrorCode.FILE_TOO_LARGE
    assert code_for_http_status(418) is ErrorCode.HTTP_ERROR
    for status, code in HTTP_CODES.items():
        assert ERRORS[code].http_status == status
        assert ERRORS[code].kind is ErrorKind.API


# -- the code raises only what is declared -------------------------------------------------


def test_no_code_is_raised_or_stored_as_a_bare_string() -> None:
    found = _bare_string_codes()
    assert not found, "use ErrorCode.X (declared in aegis/vocabulary.py) instead of:\n" + "\n".join(found)


def test_the_scan_would_catch_a_bare_string() -> None:
    tree = ast.parse('raise DocumentError("nope")\nrun.error_code = "x"\nif exc.code in {"y"}: pass')
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert [s for c in calls for a in _code_arguments(c) for s in _strings(a)] == ["nope"]
    assert _is_code_target(next(n for n in ast.walk(tree) if isinstance(n, ast.Assign)).targets[0])


def test_every_error_code_referenced_in_the_source_exists() -> None:
    unknown = [f"{path}:{line}: ErrorCode.{name}" for path, line, name in _error_code_references()
               if name not in ErrorCode.__members__]
    assert not unknown, unknown


def test_every_declared_code_is_used_somewhere() -> None:
    used = {ErrorCode[name] for _, _, name in _error_code_references() if name in ErrorCode.__members__}
    used |= set(HTTP_CODES.values()) | {code_for_http_status(599)}
    dead = [str(code) for code in ErrorCode if code not in used]
    assert not dead, f"declared but never raised: {dead}"


# -- what is built from it -------------------------------------------------------------


def test_document_error_takes_kind_and_sentence_from_the_vocabulary() -> None:
    rejected = DocumentError(ErrorCode.ZIP_BOMB)
    assert (rejected.code, rejected.rejected, rejected.message) == (
        ErrorCode.ZIP_BOMB, True, ERRORS[ErrorCode.ZIP_BOMB].message
    )
    assert DocumentError(ErrorCode.BLOB_MISSING).rejected is False
    assert DocumentError("encrypted", "The PDF needs a password.").code is ErrorCode.ENCRYPTED
    assert DocumentError(ErrorCode.MALFORMED, "unreadable", rejected=False).rejected is False
    assert is_rejection("too_complex") and not is_rejection("timeout")
    with pytest.raises(ValueError):
        DocumentError("decompression_bomb")  # merged into zip_bomb: one code per condition


def test_problem_json_takes_status_and_detail_from_the_vocabulary() -> None:
    from web import errors
    from web.errors import ApiError

    app = Flask(__name__)
    errors.register(app)

    @app.get("/gone")
    def gone() -> None:
        raise ApiError(ErrorCode.NOT_FOUND)

    @app.get("/search")
    def search() -> None:
        raise ApiError(ErrorCode.AI_CONFIG, "Search is unavailable right now.", status=503)

    client = app.test_client()
    response = client.get("/gone")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json() == {
        "type": "https://aegis.dev/problems/not_found", "title": "Not found", "status": 404,
        "detail": ERRORS[ErrorCode.NOT_FOUND].message, "code": "not_found",
    }
    assert client.get("/search").get_json()["status"] == 503
    assert client.post("/gone").get_json()["code"] == "method_not_allowed"
    assert client.get("/nowhere").get_json()["code"] == "not_found"


def test_openapi_lists_every_code_and_status_from_the_vocabulary() -> None:
    from aegis.openapi import ERROR_CODES, build_spec

    schemas = build_spec()["components"]["schemas"]
    assert tuple(ERROR_CODES) == tuple(ErrorCode)
    assert schemas["Problem"]["properties"]["code"]["enum"] == list(ErrorCode)
    detail_codes = set(schemas["ErrorDetail"]["properties"]["code"]["enum"])
    # quota_exceeded is a refused upload, and also a document past its tenant's daily page quota.
    assert detail_codes == {c for c, item in ERRORS.items() if item.kind is not ErrorKind.API} | {
        ErrorCode.QUOTA_EXCEEDED}
    assert schemas["Document"]["properties"]["status"]["enum"] == list(DocumentStatus)
    assert schemas["StageRun"]["properties"]["status"]["enum"] == list(StageStatus)


def _readme_table() -> list[tuple[str, str, str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- error-codes:start -->\n(.*?)\n<!-- error-codes:end -->", text, re.S)
    assert match, "README.md lost its error-code table markers"
    rows = []
    for line in match.group(1).splitlines()[2:]:  # skip the header and the rule
        code, status, kind, meaning = (cell.strip() for cell in line.strip().strip("|").split("|"))
        rows.append((code.strip("`"), status, kind, meaning))
    return rows


def test_readme_error_table_matches_the_vocabulary() -> None:
    expected = [
        (str(item.code), str(item.http_status) if item.http_status else "—", str(item.kind), item.message)
        for item in ERRORS.values()
    ]
    assert _readme_table() == expected, "regenerate the README table with `python -m aegis.vocabulary`"
    assert markdown_table() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_names_every_status() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for status in [*DocumentStatus, *StageStatus]:
        assert f"`{status}`" in text, status


def test_the_web_ui_only_explains_codes_that_exist() -> None:
    script = (ROOT / "web" / "static" / "app.js").read_text(encoding="utf-8")
    block = re.search(r"const PLAIN = \{(.*?)\};", script, re.S)
    assert block
    explained = set(re.findall(r"^\s*([a-z_]+):", block.group(1), re.M))
    assert explained and explained <= set(ErrorCode), explained - set(ErrorCode)
