"""The chart renders, lints clean and produces only schema-valid Kubernetes objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml

from .chartlib import (
    CHART_DIR,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    VALUE_SETS,
    Rendered,
    containers,
    pod_spec,
    render,
    validate_object,
    workloads,
)

WARNING = 2


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_chart_lints_without_warnings_in_strict_mode(name: str) -> None:
    report = helm_python.lint(
        CHART_DIR,
        VALUE_SETS[name],
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    problems = [m for m in report["messages"] if m["severity"] >= WARNING]
    assert report["errors"] == [], report
    assert problems == [], problems


def test_every_object_matches_the_kubernetes_schema(value_set: tuple[str, dict[str, Any]]) -> None:
    name, values = value_set
    rendered = render(values)
    assert rendered.objects, f"{name}: nothing rendered"
    failures = []
    for obj in rendered.objects:
        try:
            validate_object(obj)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {getattr(exc, 'message', exc)}")
        except jsonschema.ValidationError as exc:  # the KEDA schemas shipped here
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc}")
    assert failures == []


def test_the_validator_rejects_a_broken_object() -> None:
    """Guards the guard: a typo in a pod spec must not pass validate_object."""
    deployment = render().workers()["validate"]
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_object(deployment)


def test_keda_objects_are_validated_not_skipped() -> None:
    scaled = render(VALUE_SETS["keda"]).kinds("ScaledObject")
    assert scaled
    broken = {**scaled[0], "spec": {**scaled[0]["spec"], "minReplicaCount": "one"}}
    with pytest.raises(jsonschema.ValidationError):
        validate_object(broken)


def test_every_object_carries_the_standard_labels(value_set: tuple[str, dict[str, Any]]) -> None:
    _, values = value_set
    for obj in render(values).objects:
        labels = obj["metadata"].get("labels", {})
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert labels.get("app.kubernetes.io/name") == "aegis", where
        assert labels.get("app.kubernetes.io/instance") == RELEASE, where
        assert labels.get("app.kubernetes.io/managed-by") == "Helm", where
        assert labels.get("app.kubernetes.io/component"), where
        assert labels.get("app.kubernetes.io/version"), where
        assert labels.get("helm.sh/chart", "").startswith("aegis-"), where


def test_every_namespaced_object_lands_in_the_release_namespace() -> None:
    for obj in render(namespace="tenant-a").objects:
        assert obj["metadata"].get("namespace") == "tenant-a", obj["metadata"]["name"]


def test_names_stay_valid_dns_labels_for_a_long_release_name() -> None:
    long_name = "a-very-long-release-name-for-aegis-in-production-eu1"
    assert len(long_name) <= 53  # Helm's own limit
    rendered = render(name=long_name)
    for obj in rendered.objects:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
        validate_object(obj)
    names = [(o["kind"], o["metadata"]["name"]) for o in rendered.objects]
    assert len(names) == len(set(names)), "truncation made two names collide"
    # Kubernetes appends to these names (Job suffixes, controller-revision-hash).
    for obj in rendered.kinds("CronJob") + rendered.kinds("StatefulSet"):
        assert len(obj["metadata"]["name"]) <= 52, obj["metadata"]["name"]
    # References still point at what was rendered.
    (redis,) = rendered.component("StatefulSet", "redis")
    config = next(v for v in redis["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    assert rendered.find("ConfigMap", config["configMap"]["name"]) is not None


def test_selectors_of_different_components_never_overlap() -> None:
    rendered = render()
    selectors = [
        tuple(sorted(d["spec"]["selector"]["matchLabels"].items()))
        for d in rendered.kinds("Deployment") + rendered.kinds("StatefulSet")
    ]
    assert len(selectors) == len(set(selectors))


def _existing_secrets(values: Any) -> set[str]:
    """Every Secret the values say exists already (existingSecret anywhere)."""
    found: set[str] = set()
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "existingSecret" and value:
                found.add(value)
            else:
                found |= _existing_secrets(value)
    elif isinstance(values, list):
        for item in values:
            found |= _existing_secrets(item)
    return found


def _pod_templates(rendered: Rendered) -> list[dict[str, Any]]:
    out = []
    for obj in workloads(rendered):
        if obj["kind"] == "Pod":
            out.append(obj)
        elif obj["kind"] == "CronJob":
            out.append(obj["spec"]["jobTemplate"]["spec"]["template"])
        else:
            out.append(obj["spec"]["template"])
    return out


def _selects_some_pod(selector: dict[str, str], rendered: Rendered) -> bool:
    return any(all(t["metadata"]["labels"].get(k) == v for k, v in selector.items()) for t in _pod_templates(rendered))


def test_every_reference_points_at_a_rendered_or_declared_object(value_set: tuple[str, dict[str, Any]]) -> None:
    _, values = value_set
    rendered = render(values)
    existing = _existing_secrets(values)
    secrets = {s["metadata"]["name"]: set(s.get("data", {})) for s in rendered.kinds("Secret")}
    configmaps = {c["metadata"]["name"] for c in rendered.kinds("ConfigMap")}
    claims = {c["metadata"]["name"] for c in rendered.kinds("PersistentVolumeClaim")}
    claims |= {values.get(k, {}).get("persistence", {}).get("existingClaim") for k in ("storage", "backup")} - {None}
    accounts = {a["metadata"]["name"] for a in rendered.kinds("ServiceAccount")} | {"default"}
    deployments = {d["metadata"]["name"] for d in rendered.kinds("Deployment")}

    for obj in workloads(rendered):
        spec = pod_spec(obj)
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert spec.get("serviceAccountName", "default") in accounts, where
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in configmaps, where
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, where
        for container in containers(obj):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps, where
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ref["name"] in existing:
                    continue
                assert ref["name"] in secrets, f"{where}: {env['name']} reads missing Secret {ref['name']}"
                assert ref["key"] in secrets[ref["name"]], f"{where}: {env['name']} reads missing key {ref['key']}"

    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for scaler in rendered.kinds(kind):
            assert scaler["spec"]["scaleTargetRef"]["name"] in deployments, scaler["metadata"]["name"]
    auths = {a["metadata"]["name"] for a in rendered.kinds("TriggerAuthentication")}
    for scaled in rendered.kinds("ScaledObject"):
        for trigger in scaled["spec"]["triggers"]:
            if "authenticationRef" in trigger:
                assert trigger["authenticationRef"]["name"] in auths
    for service in rendered.kinds("Service"):
        assert _selects_some_pod(service["spec"]["selector"], rendered), service["metadata"]["name"]
    for pdb in rendered.kinds("PodDisruptionBudget"):
        assert _selects_some_pod(pdb["spec"]["selector"]["matchLabels"], rendered), pdb["metadata"]["name"]
    services = {s["metadata"]["name"] for s in rendered.kinds("Service")}
    for ingress in rendered.kinds("Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in services


def test_packaged_chart_renders_like_the_directory(tmp_path: Path) -> None:
    archive = helm_python.package(CHART_DIR, destination=tmp_path)
    assert Path(archive).name == "aegis-0.1.0.tgz"
    with helm_python.Chart.load(archive) as packaged:
        assert packaged.schema is not None, "values.schema.json must ship in the package"
        manifests = packaged.render({}, name=RELEASE, namespace=NAMESPACE)
    kinds = sorted(
        (doc["kind"], doc["metadata"]["name"])
        for path, text in manifests.items()
        if not path.endswith("NOTES.txt")
        for doc in yaml.safe_load_all(text)
        if doc
    )
    assert kinds == sorted((o["kind"], o["metadata"]["name"]) for o in render().objects)
