"""Render the chart with the real Helm engine and validate what comes out.

Helm here is ``helm-python-sdk``, which binds the Helm v4 Go SDK (no ``helm``
binary, no cluster). Objects are checked against the Kubernetes OpenAPI schemas that
``kubernetes-validate`` ships in its wheel (offline), for ``KUBE_VERSION``. KEDA's
and the Prometheus Operator's kinds are CRDs that package does not know: their
schemas live in ``schemas/`` here.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml
from referencing import Registry, Resource

from aegis.pipeline.registry import REGISTRY

REPO = Path(__file__).resolve().parents[2]
CHART_DIR = REPO / "helm" / "aegis"
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

#: The Kubernetes version every object is validated against (the chart's
#: kubeVersion floor is 1.25; 1.30 is the oldest release still widely supported).
KUBE_VERSION = "1.30.0"
RELEASE = "aegis"
NAMESPACE = "docs"
STAGES = REGISTRY.names

# Kinds whose pods the chart runs, and where their pod spec lives.
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "CronJob", "Pod")

Obj = dict[str, Any]


# --------------------------------------------------------------------------- value sets

EXTERNAL_SERVICES: dict[str, Any] = {
    "postgresql": {"enabled": False},
    "externalDatabase": {
        "host": "pg.db.example.internal",
        "port": 5433,
        "database": "aegis_prod",
        "username": "aegis_app",
        "existingSecret": "aegis-db",
        "existingSecretPasswordKey": "password",
        "sslmode": "require",
    },
    "redis": {"enabled": False},
    "externalRedis": {
        "host": "redis.cache.example.internal",
        "port": 6380,
        "database": 2,
        "existingSecret": "aegis-redis",
        "existingSecretPasswordKey": "redis-password",
        "tls": True,
    },
}

KEDA: dict[str, Any] = {"keda": {"enabled": True}}

INGRESS_AND_NETWORK_POLICIES: dict[str, Any] = {
    "gateway": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "100m"},
            "hosts": [{"host": "aegis.example.com", "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": "aegis-tls", "hosts": ["aegis.example.com"]}],
        }
    },
    "networkPolicy": {
        "enabled": True,
        "gatewayFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
    },
}

# Everything from outside the chart at once: external services, every credential
# from an existing Secret, OpenAI and Pinecone, KEDA, and no Helm hooks (GitOps).
PRODUCTION: dict[str, Any] = {
    **EXTERNAL_SERVICES,
    **KEDA,
    "image": {"repository": "registry.example.com/aegis", "tag": "1.2.3"},
    "imagePullSecrets": [{"name": "registry"}],
    "ai": {
        "provider": "openai",
        "openai": {"existingSecret": "aegis-openai", "existingSecretKey": "api-key"},
        "vectorStore": "pinecone",
        "pinecone": {"index": "aegis", "existingSecret": "aegis-pinecone", "existingSecretKey": "api-key"},
    },
    "webhooks": {"existingSecret": "aegis-webhooks", "existingSecretKey": "secret"},
    "flower": {"auth": {"existingSecret": "aegis-flower", "existingSecretKey": "auth"}},
    "migrations": {"useHelmHooks": False},
}

# The smallest footprint: fixed replicas, no autoscaling, no policies, no extras.
MINIMAL: dict[str, Any] = {
    "gateway": {"replicas": 1, "autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 1}},
    "workers": {stage: {"autoscaling": {"enabled": False, "minReplicas": 1, "maxReplicas": 1}} for stage in STAGES},
    "networkPolicy": {"enabled": False},
    "backup": {"enabled": False},
    "flower": {"enabled": False},
    "storage": {"persistence": {"enabled": False}},
}

# The Prometheus Operator and Grafana objects, with what kube-prometheus-stack users set.
MONITORING: dict[str, Any] = {
    "monitoring": {
        "serviceMonitor": {"enabled": True, "namespace": "monitoring", "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {
            "enabled": True, "labels": {"release": "kube-prometheus-stack"}, "additionalRuleLabels": {"team": "docs"},
            "runbookBaseUrl": "https://runbooks.example.com/aegis",
        },
        "grafanaDashboard": {"enabled": True, "namespace": "monitoring", "annotations": {"grafana_folder": "Aegis"}},
    },
}

# Blobs in a bucket: no shared volume, credentials from a Secret, an IRSA role, policies on.
S3_STORAGE: dict[str, Any] = {
    "storage": {
        "type": "s3",
        "s3": {
            "bucket": "aegis-docs", "prefix": "prod/eu", "region": "eu-west-1",
            "endpoint": "https://minio.storage.svc:9000", "addressingStyle": "path",
            "sse": "aws:kms", "kmsKeyId": "alias/aegis", "existingSecret": "aegis-s3",
        },
    },
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/aegis"}},
}

# An existing RabbitMQ (URL from a Secret) for the stage queues, KEDA on its queue lengths.
RABBITMQ: dict[str, Any] = {
    **KEDA,
    "externalBroker": {"enabled": True, "existingSecret": "aegis-rabbitmq", "existingSecretUrlKey": "url"},
    "networkPolicy": {"enabled": True, "externalBrokerTo": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]},
}

VALUE_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "external-services": EXTERNAL_SERVICES,
    "keda": KEDA,
    "ingress-network-policies": INGRESS_AND_NETWORK_POLICIES,
    "production": PRODUCTION,
    "minimal": MINIMAL,
    "monitoring": MONITORING,
    "s3-storage": S3_STORAGE,
    "rabbitmq": RABBITMQ,
}


# --------------------------------------------------------------------------- rendering


@cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART_DIR)


@dataclass
class Rendered:
    """The objects of one render, and NOTES.txt."""

    objects: list[Obj]
    notes: str

    def kinds(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj:
        found = [o for o in self.kinds(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
        return found[0]

    def find(self, kind: str, name: str) -> Obj | None:
        found = [o for o in self.kinds(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def component(self, kind: str, component: str) -> list[Obj]:
        return [
            o
            for o in self.kinds(kind)
            if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
        ]

    def workers(self) -> dict[str, Obj]:
        """Worker Deployments by stage."""
        out = {}
        for d in self.kinds("Deployment"):
            component = d["metadata"]["labels"]["app.kubernetes.io/component"]
            if component.startswith("worker-"):
                out[component.removeprefix("worker-")] = d
        return out

    def config(self) -> dict[str, str]:
        return self.get("ConfigMap", RELEASE)["data"]


def render(
    values: dict[str, Any] | None = None,
    *,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
    is_upgrade: bool = False,
) -> Rendered:
    objects, notes = _render(json.dumps(values or {}, sort_keys=True), name, namespace, is_upgrade)
    # Tests may modify what they get: hand out a copy of the cached render.
    return Rendered(copy.deepcopy(objects), notes)


@cache
def _render(values_json: str, name: str, namespace: str, is_upgrade: bool) -> tuple[list[Obj], str]:
    manifests = chart().render(
        json.loads(values_json),
        name=name,
        namespace=namespace,
        is_install=not is_upgrade,
        is_upgrade=is_upgrade,
    )
    objects: list[Obj] = []
    notes = ""
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            notes = text
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects, notes


def merge(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge value layers, later ones winning (as repeated ``-f`` files do)."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
    return out


# --------------------------------------------------------------------------- pod specs


def pod_spec(obj: Obj) -> Obj:
    kind = obj["kind"]
    if kind == "Pod":
        return obj["spec"]
    if kind == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def workloads(rendered: Rendered) -> Iterator[Obj]:
    return (o for o in rendered.objects if o["kind"] in WORKLOAD_KINDS)


def containers(obj: Obj) -> list[Obj]:
    spec = pod_spec(obj)
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: Obj) -> dict[str, Obj]:
    return {e["name"]: e for e in container.get("env", [])}


def arg_after(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} not in {args}"
    return args[args.index(flag) + 1]


# --------------------------------------------------------------------------- validation


@cache
def _k8s_registry() -> Registry:
    folder = files("kubernetes_validate") / "kubernetes-json-schema" / f"v{KUBE_VERSION}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())
    return Registry().with_resource("https://kubernetes.io/api/_definitions.json", Resource.from_contents(definitions))


@cache
def _crd_schema(kind: str, api_version: str) -> Obj:
    group, version = api_version.split("/")
    path = SCHEMA_DIR / f"{kind.lower()}-{group.split('.')[0]}-{version}.json"
    if not path.exists():
        pytest.fail(f"no schema for {kind} {api_version}: add one to {SCHEMA_DIR}")
    return json.loads(path.read_text())


def validate_object(obj: Obj) -> None:
    """Validate against Kubernetes' schemas (strict: unknown fields are errors)."""
    if obj["apiVersion"].startswith(("keda.sh/", "monitoring.coreos.com/")):
        schema = _crd_schema(obj["kind"], obj["apiVersion"])
        jsonschema.Draft202012Validator(schema, registry=_k8s_registry()).validate(obj)
        return
    # Raises SchemaNotFoundError for an unknown kind: that fails the test too.
    kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
