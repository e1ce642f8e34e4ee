"""The chart renders, lints clean and produces only schema-valid Kubernetes objects."""

from __future__ import annotations

from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest

from .chartlib import (
    CHART_DIR,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    VALUE_SETS,
    render,
    validate_object,
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


def test_selectors_of_different_components_never_overlap() -> None:
    rendered = render()
    selectors = [
        tuple(sorted(d["spec"]["selector"]["matchLabels"].items()))
        for d in rendered.kinds("Deployment") + rendered.kinds("StatefulSet")
    ]
    assert len(selectors) == len(set(selectors))
