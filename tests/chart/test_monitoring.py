"""The chart's monitoring objects: a Grafana dashboard ConfigMap, a PrometheusRule and
ServiceMonitor/PodMonitor, off by default; the alert rules pass promtool's checks and
its unit tests (tests/chart/promtool/)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .chartlib import CHART_DIR, MONITORING, NAMESPACE, STAGES, render

MONITORING_KINDS = ("ServiceMonitor", "PodMonitor", "PrometheusRule")
PROMTOOL_TESTS = Path(__file__).resolve().parent / "promtool"


def _dashboard_configmaps(values: dict) -> list[dict]:
    return [o for o in render(values).kinds("ConfigMap") if "aegis.json" in o.get("data", {})]


def test_nothing_for_monitoring_is_rendered_by_default() -> None:
    rendered = render({})
    assert [o["kind"] for o in rendered.objects if o["kind"] in MONITORING_KINDS] == []
    assert _dashboard_configmaps({}) == []


def test_enabled_monitoring_renders_the_dashboard_rules_and_monitors_with_the_given_labels_and_namespace() -> None:
    rendered = render(MONITORING)
    (dashboard,) = _dashboard_configmaps(MONITORING)
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Aegis"}
    shipped = json.loads((CHART_DIR / "dashboards" / "aegis.json").read_text())
    assert json.loads(dashboard["data"]["aegis.json"]) == shipped

    (rule,) = rendered.kinds("PrometheusRule")
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert set(alerts) == {
        "AegisQueueGrowing", "AegisOldestDocumentTooOld", "AegisStageErrorRatioHigh", "AegisQueueWithoutWorker",
        "AegisReconcilerResending", "AegisWebhookFailures", "AegisGateway5xxRatioHigh",
    }
    for name, alert in alerts.items():
        assert alert["labels"]["team"] == "docs"
        assert alert["annotations"]["runbook_url"] == f"https://runbooks.example.com/aegis#{name.lower()}"

    (gateway,) = rendered.kinds("ServiceMonitor")
    (workers,) = rendered.kinds("PodMonitor")
    for monitor in (gateway, workers):
        assert monitor["metadata"]["namespace"] == "monitoring"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    service = rendered.get("Service", "aegis-gateway")
    selected = gateway["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert gateway["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    # Every worker Deployment's pods are selected, on the port the worker serves its metrics on.
    (expression,) = workers["spec"]["selector"]["matchExpressions"]
    for stage, deployment in rendered.workers().items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert workers["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert labels[expression["key"]] in expression["values"]
        ports = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert workers["spec"]["podMetricsEndpoints"][0]["port"] in ports, stage
    assert len(rendered.workers()) == len(STAGES)


def test_workers_without_a_metrics_port_get_no_pod_monitor() -> None:
    rendered = render({**MONITORING, "workerSettings": {"metricsPort": 0}})
    assert rendered.kinds("PodMonitor") == []
    assert len(rendered.kinds("ServiceMonitor")) == 1


def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: install Debian's prometheus package (.ci/run does)")
    return found


def _rules_file(folder: Path, values: dict) -> Path:
    (rule,) = render(values).kinds("PrometheusRule")
    path = folder / "aegis.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}))
    return path


def test_the_rendered_alert_rules_pass_promtool_check(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, MONITORING)
    result = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_queue_backlog_error_ratio_and_missing_worker_alerts_fire_and_stay_quiet_as_promtool_tests_say(
    tmp_path: Path,
) -> None:
    _rules_file(tmp_path, {"monitoring": {"prometheusRule": {"enabled": True}}})
    shutil.copy(PROMTOOL_TESTS / "aegis_alerts_test.yaml", tmp_path)
    result = subprocess.run(
        [_promtool(), "test", "rules", "aegis_alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_tests_fail_when_a_threshold_no_longer_matches(tmp_path: Path) -> None:
    """The unit tests can fail: with a 50 % error-ratio threshold the ocr alert must not fire."""
    _rules_file(tmp_path, {"monitoring": {"prometheusRule": {"enabled": True, "thresholds": {"stageErrorRatio": 0.5}}}})
    shutil.copy(PROMTOOL_TESTS / "aegis_alerts_test.yaml", tmp_path)
    result = subprocess.run(
        [_promtool(), "test", "rules", "aegis_alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "AegisStageErrorRatioHigh" in result.stdout + result.stderr
