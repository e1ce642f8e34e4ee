"""values.schema.json refuses what it should, and the templates refuse the rest."""

from __future__ import annotations

import json
from typing import Any

import helm_python
import pytest
import yaml

from .chartlib import CHART_DIR, EXTERNAL_SERVICES, merge, render

# Objects whose keys are the user's (maps of labels, env, settings), or Kubernetes
# types passed through verbatim and validated by Kubernetes' own schema.
FREE_FORM = {"securityContext", "podSecurityContext", "containerSecurityContext"}


def _schema() -> dict[str, Any]:
    return json.loads((CHART_DIR / "values.schema.json").read_text())


def _closed_objects(node: Any, path: str = "") -> list[str]:
    """Paths of objects with named properties that still accept unknown keys."""
    open_paths: list[str] = []
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is not False:
            open_paths.append(path or "/")
        for key, value in node.items():
            open_paths.extend(_closed_objects(value, f"{path}/{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            open_paths.extend(_closed_objects(value, f"{path}/{index}"))
    return open_paths


def test_schema_refuses_unknown_keys_at_every_level() -> None:
    assert _schema()["additionalProperties"] is False
    assert _closed_objects(_schema()) == []


def test_every_default_value_is_described_by_the_schema() -> None:
    def walk(values: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        definitions = _schema()["definitions"]
        if "$ref" in schema:
            schema = definitions[schema["$ref"].rsplit("/", 1)[1]]
        props = schema.get("properties")
        if props is None:
            return
        for key, value in values.items():
            assert key in props, f"{path}.{key} is not in values.schema.json"
            if isinstance(value, dict):
                walk(value, props[key], f"{path}.{key}")

    walk(yaml.safe_load((CHART_DIR / "values.yaml").read_text()), _schema(), "")


def test_default_values_pass_the_schema() -> None:
    from .chartlib import chart

    chart().validate_schema(None)


BAD_VALUES: dict[str, dict[str, Any]] = {
    "unknown top-level key": {"replicaCount": 3},
    "typo in a worker key": {"workers": {"content": {"concurency": 4}}},
    "a stage that does not exist": {"workers": {"gpu": {"enabled": True}}},
    "a queue that is not a stage": {"workers": {"ai": {"queue": "ai,gpu"}}},
    "zero concurrency": {"workers": {"validate": {"concurrency": 0}}},
    "negative replicas": {"workers": {"metadata": {"replicas": -1}}},
    "time limit as a string": {"workers": {"content": {"timeLimitSeconds": "300"}}},
    # null is how an operator deletes a default key (Helm drops it before validation).
    "worker without requests": {"workers": {"content": {"resources": {"requests": None}}}},
    "container without memory limit": {"gateway": {"resources": {"limits": {"memory": None}}}},
    "unknown AI provider": {"ai": {"provider": "anthropic"}},
    "unknown vector store": {"ai": {"vectorStore": "qdrant"}},
    "redis appendfsync off": {"redis": {"appendfsync": "no"}},
    "password that breaks the URL": {"postgresql": {"auth": {"password": "p@ss/word"}}},
    "unknown sslmode": {"externalDatabase": {"sslmode": "sometimes"}},
    "bad image digest": {"image": {"digest": "latest"}},
    "unknown log level": {"config": {"logLevel": "VERBOSE"}},
    "relative storage path": {"storage": {"mountPath": "data"}},
    "unknown storage type": {"storage": {"type": "gcs"}},
    "bucket name S3 refuses": {"storage": {"type": "s3", "s3": {"bucket": "My_Docs"}}},
    "unknown server-side encryption": {"storage": {"type": "s3", "s3": {"bucket": "docs", "sse": "aes"}}},
    "s3 endpoint without a scheme": {"storage": {"type": "s3", "s3": {"bucket": "docs", "endpoint": "minio:9000"}}},
    "unknown s3 key": {"storage": {"s3": {"bukket": "docs"}}},
    "heartbeat outside /tmp": {"workerSettings": {"heartbeatFile": "/var/run/hb"}},
    "flower user with a colon": {"flower": {"auth": {"username": "a:b"}}},
    "ingress path without slash": {
        "gateway": {"ingress": {"hosts": [{"host": "x", "paths": [{"path": "api", "pathType": "Prefix"}]}]}}
    },
    "string where a list belongs": {"networkPolicy": {"gatewayFrom": "ingress-nginx"}},
    "unknown keda key": {"keda": {"enabled": True, "pollingIntervall": 5}},
    "settings key in lower case": {"config": {"extra": {"aegis_max_pages": "1"}}},
    "unknown OCR mode": {"config": {"ocr": {"mode": "sometimes"}}},
    "OCR languages joined by a comma": {"config": {"ocr": {"languages": "eng,deu"}}},
    "OCR at 20 DPI": {"config": {"ocr": {"dpi": 20}}},
    "OCR batch of no pages": {"config": {"ocr": {"batchPages": 0}}},
    "OCR page timeout of zero": {"config": {"ocr": {"pageTimeoutSeconds": 0}}},
    "unknown OCR key": {"config": {"ocr": {"language": "deu"}}},
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_schema_refuses_bad_values(case: str) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        render(BAD_VALUES[case])


REFUSED_BY_TEMPLATES: dict[str, tuple[dict[str, Any], str]] = {
    "visibility timeout below a time limit": (
        {"config": {"visibilityTimeout": 500}},
        "must exceed workers.ai.timeLimitSeconds",
    ),
    "external database without a host": (
        {"postgresql": {"enabled": False}},
        "set externalDatabase.host",
    ),
    "URL key without its secret": (
        merge(EXTERNAL_SERVICES, {"externalDatabase": {"existingSecret": "", "existingSecretUrlKey": "url"}}),
        "existingSecretUrlKey needs externalDatabase.existingSecret",
    ),
    "external redis without a host": ({"redis": {"enabled": False}}, "set externalRedis.host"),
    "openai without a key": ({"ai": {"provider": "openai"}}, "set ai.openai.apiKey"),
    "pinecone without an index": (
        {"ai": {"vectorStore": "pinecone", "pinecone": {"apiKey": "k"}}},
        "set ai.pinecone.index",
    ),
    "autoscaling minimum above maximum": (
        {"workers": {"ai": {"autoscaling": {"minReplicas": 9, "maxReplicas": 2}}}},
        "minReplicas exceeds maxReplicas",
    ),
    "OCR batch longer than its time limit": (
        {"config": {"ocr": {"batchPages": 8}}},
        r"batchPages x config.ocr.pageTimeoutSeconds \(480 s\) exceeds workers.ocr.timeLimitSeconds \(300\)",
    ),
    "OCR page cap above the decoding cap": (
        {"config": {"ocr": {"maxPixels": 200000000}}},
        "maxPixels must not exceed config.ocr.maxImagePixels",
    ),
    "s3 storage without a bucket": ({"storage": {"type": "s3"}}, "storage.type s3 needs storage.s3.bucket"),
    "KMS key without aws:kms": (
        {"storage": {"type": "s3", "s3": {"bucket": "docs", "kmsKeyId": "k"}}},
        "kmsKeyId needs storage.s3.sse: aws:kms",
    ),
    "gateway autoscaling to zero": (
        {"gateway": {"autoscaling": {"minReplicas": 0}}},
        "gateway.autoscaling.minReplicas must be at least 1",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED_BY_TEMPLATES))
def test_templates_refuse_inconsistent_values_with_a_clear_message(case: str) -> None:
    values, message = REFUSED_BY_TEMPLATES[case]
    with pytest.raises(helm_python.HelmRenderError, match=message):
        render(values)


def test_lint_reports_the_schema_violation() -> None:
    report = helm_python.lint(CHART_DIR, {"workers": {"content": {"concurency": 4}}}, strict=True)
    assert any("concurency" in message["error"] for message in report["messages"] if message["severity"] >= 3)
