"""Metrics move when documents flow; one document's id is in every stage's logs."""

from __future__ import annotations

import json
import re

import pytest
import requests

from aegis.pipeline.registry import STAGES
from tests.harness import CORPUS, ApiClient, Stack, wait_for

pytestmark = pytest.mark.integration


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match and wanted <= set(filter(None, (match.group(1) or "").split(","))):
            return float(match.group(2))
    return 0.0


def _worker_metrics(stack: Stack, stage: str) -> str:
    return requests.get(f"http://127.0.0.1:{stack.metrics_ports[f'worker-{stage}']}/metrics", timeout=10).text


def test_gateway_and_worker_metrics_move_when_a_document_flows(api: ApiClient, stack: Stack) -> None:
    before_gateway = requests.get(stack.url + "/metrics", timeout=10).text
    before_workers = {s: _worker_metrics(stack, s) for s in STAGES}
    doc = api.wait(api.upload(CORPUS / "pdf" / "libre-office-link.pdf").json()["id"])
    assert doc["status"] == "succeeded"
    gateway = requests.get(stack.url + "/metrics", timeout=10).text
    assert _sample(gateway, "aegis_uploads_total", outcome="accepted") == (
        _sample(before_gateway, "aegis_uploads_total", outcome="accepted") + 1
    )
    bytes_before = _sample(before_gateway, "aegis_upload_bytes_total")
    assert _sample(gateway, "aegis_upload_bytes_total") >= bytes_before + doc["size"]
    assert _sample(gateway, "aegis_http_requests_total", method="POST", endpoint="/v1/documents", status="202") >= 1
    assert _sample(gateway, "aegis_documents", status="succeeded") >= 1
    for stage in STAGES:
        # OCR has nothing to do on a text PDF: its task still succeeds (the stage is skipped).
        key = {"stage": stage, "outcome": "succeeded"}
        wanted = _sample(before_workers[stage], "aegis_stage_tasks_total", **key) + 1

        def counted(stage: str = stage, key: dict[str, str] = key, wanted: float = wanted) -> str | None:
            # A task counts itself after its stage's transaction commits: the document can read
            # `succeeded` a moment before the last stage's counter moves.
            text = _worker_metrics(stack, stage)
            return text if _sample(text, "aegis_stage_tasks_total", **key) >= wanted else None

        after = wait_for(counted, 30, message=f"{stage}'s task counter to move")
        assert _sample(after, "aegis_stage_duration_seconds_count", stage=stage) >= 1
        assert "aegis_queue_depth" in after


def test_every_stage_logs_the_document_id_as_json(api: ApiClient, stack: Stack) -> None:
    doc_id = api.upload(CORPUS / "pdf" / "reportlab-overlay.pdf").json()["id"]
    assert api.wait(doc_id)["status"] == "succeeded"

    def lines_for(name: str) -> list[dict]:
        out = []
        for line in stack.logs[name].read_text(errors="replace").splitlines():
            if doc_id in line and line.startswith("{"):
                out.append(json.loads(line))
        return out

    for stage in STAGES:
        entries = wait_for(lambda s=stage: lines_for(f"worker-{s}"), 30, message=f"{stage} log lines")
        assert any(e.get("document_id") == doc_id and e.get("stage") == stage and e.get("task_id") for e in entries)
        assert all(e.get("tenant") for e in entries if e.get("message", "").startswith("stage succeeded"))
    gateway = wait_for(lambda: lines_for("gateway"), 30, message="gateway log lines")
    assert any(e.get("message") == "document accepted" and e.get("tenant") for e in gateway)


_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers left once strings, label
    matchers, ranges, grouping lists and function calls are set aside."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", " ", expr)
    expr = _LABEL_LISTS.sub(" ", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", expr):
        if match.group(2) is None and match.group(1) not in _NOT_METRICS:
            names.add(match.group(1))
    return names


def test_promql_metric_names_are_found_in_expressions() -> None:
    expr = ('sum by (stage) (rate(aegis_a_total{outcome=~"failed|x"}[15m])) / clamp_min(sum(aegis_b), 1e-9) '
            "unless on (stage) max by (stage) (aegis_c) > 0.5")
    assert promql_metric_names(expr) == {"aegis_a_total", "aegis_b", "aegis_c"}


def _exposed_names(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M)}


def test_every_metric_in_the_dashboard_and_alert_rules_is_exposed_by_the_gateway_or_a_worker(
    api: ApiClient, stack: Stack
) -> None:
    from tests.chart.chartlib import CHART_DIR, render

    dashboard = json.loads((CHART_DIR / "dashboards" / "aegis.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    (rule,) = render({"monitoring": {"prometheusRule": {"enabled": True}}}).kinds("PrometheusRule")
    queries += [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    used = set().union(*(promql_metric_names(q) for q in queries))
    assert len(used) >= 12 and all(name.startswith("aegis_") for name in used), used

    # A document that succeeds and one that is rejected, so error counters have a sample too.
    good = api.upload(CORPUS / "pdf" / "minimal-document.pdf").json()["id"]
    bad = api.upload_bytes("broken.pdf", b"%PDF-1.7\n this is not a PDF").json()["id"]
    assert api.wait(good)["status"] == "succeeded"
    assert api.wait(bad)["status"] in ("rejected", "failed")
    exposed = _exposed_names(requests.get(stack.url + "/metrics", timeout=10).text)
    for stage in STAGES:
        exposed |= _exposed_names(_worker_metrics(stack, stage))
    assert used - exposed == set()
