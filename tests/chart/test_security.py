"""Secure by default: restricted pods, resources and probes everywhere, network policies."""

from __future__ import annotations

from typing import Any

from .chartlib import (
    EXTERNAL_SERVICES,
    INGRESS_AND_NETWORK_POLICIES,
    KEDA,
    RELEASE,
    STAGES,
    Obj,
    Rendered,
    containers,
    merge,
    pod_spec,
    render,
    workloads,
)

LONG_RUNNING = ("Deployment", "StatefulSet")


def _where(obj: Obj, container: Obj | None = None) -> str:
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    return f"{name}[{container['name']}]" if container else name


def test_every_container_meets_the_restricted_pod_security_standard(
    value_set: tuple[str, dict[str, Any]],
) -> None:
    _, values = value_set
    for obj in workloads(render(values)):
        spec = pod_spec(obj)
        pod_ctx = spec.get("securityContext", {})
        assert pod_ctx.get("runAsNonRoot") is True, _where(obj)
        for container in containers(obj):
            ctx = container.get("securityContext", {})
            where = _where(obj, container)
            assert ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True, where
            assert ctx.get("runAsUser", pod_ctx.get("runAsUser", 0)) != 0, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx.get("privileged", False) is False, where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], where
            assert "add" not in ctx.get("capabilities", {}), where
            seccomp = ctx.get("seccompProfile") or pod_ctx.get("seccompProfile")
            assert seccomp == {"type": "RuntimeDefault"}, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), _where(obj)


def test_every_container_declares_requests_and_a_memory_limit(value_set: tuple[str, dict[str, Any]]) -> None:
    _, values = value_set
    for obj in workloads(render(values)):
        for container in containers(obj):
            resources = container.get("resources", {})
            where = _where(obj, container)
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), where
            assert "memory" in resources.get("limits", {}), where


def test_every_long_running_container_has_liveness_and_readiness_probes(
    value_set: tuple[str, dict[str, Any]],
) -> None:
    _, values = value_set
    for obj in render(values).objects:
        if obj["kind"] not in LONG_RUNNING:
            continue
        for container in containers(obj):
            assert "livenessProbe" in container, _where(obj, container)
            assert "readinessProbe" in container, _where(obj, container)


def test_no_pod_gets_a_service_account_token(value_set: tuple[str, dict[str, Any]]) -> None:
    _, values = value_set
    rendered = render(values)
    for obj in workloads(rendered):
        assert pod_spec(obj).get("automountServiceAccountToken") is False, _where(obj)
    for account in rendered.kinds("ServiceAccount"):
        assert account.get("automountServiceAccountToken") is False


def test_read_only_root_filesystems_get_a_writable_tmp(value_set: tuple[str, dict[str, Any]]) -> None:
    _, values = value_set
    for obj in workloads(render(values)):
        volumes = {v["name"]: v for v in pod_spec(obj).get("volumes", [])}
        for container in containers(obj):
            tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
            assert tmp, _where(obj, container)
            assert "emptyDir" in volumes[tmp[0]["name"]], _where(obj, container)


def test_default_install_ships_network_policies() -> None:
    assert render().kinds("NetworkPolicy")


# --------------------------------------------------------------------------- network policies


def _selects(policy: Obj, labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def _policies_for(rendered: Rendered, obj: Obj) -> list[Obj]:
    spec = obj["spec"]
    template = spec["jobTemplate"]["spec"]["template"] if obj["kind"] == "CronJob" else spec.get("template", obj)
    labels = template["metadata"]["labels"]
    return [p for p in rendered.kinds("NetworkPolicy") if _selects(p, labels)]


def _egress_ports(policy: Obj) -> set[int]:
    return {port["port"] for rule in policy["spec"].get("egress", []) for port in rule.get("ports", [])}


def _policy(rendered: Rendered, component: str) -> Obj:
    (policy,) = rendered.component("NetworkPolicy", component)
    return policy


def test_every_pod_is_isolated_in_both_directions() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    for obj in workloads(rendered):
        policies = _policies_for(rendered, obj)
        assert policies, f"{_where(obj)} has no NetworkPolicy"
        types = {t for p in policies for t in p["spec"]["policyTypes"]}
        assert types == {"Ingress", "Egress"}, _where(obj)


def test_gateway_accepts_only_the_ingress_controller_own_pods_and_scrapers() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    policy = _policy(rendered, "gateway")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": 8000, "protocol": "TCP"}]
    peers = rule["from"]
    namespaces = [p["namespaceSelector"]["matchLabels"] for p in peers if "namespaceSelector" in p]
    assert {"kubernetes.io/metadata.name": "ingress"} in namespaces
    assert {"kubernetes.io/metadata.name": "monitoring"} in namespaces
    assert not any("ipBlock" in p for p in peers)
    assert _egress_ports(policy) == {53, 5432, 6379}


def _public_blocks(policy: Obj, port: int) -> list[Obj]:
    return [
        peer["ipBlock"]
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if "ipBlock" in peer and {"port": port, "protocol": "TCP"} in rule.get("ports", [])
    ]


def test_workers_accept_only_metric_scrapes() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    scrapers = INGRESS_AND_NETWORK_POLICIES["networkPolicy"]["metricsFrom"]
    for stage in STAGES:
        policy = _policy(rendered, f"worker-{stage}")
        (deployment,) = rendered.component("Deployment", f"worker-{stage}")
        (port,) = containers(deployment)[0]["ports"]
        assert port["name"] == "metrics"
        assert policy["spec"]["ingress"] == [
            {"from": scrapers, "ports": [{"port": port["containerPort"], "protocol": "TCP"}]}
        ], stage


def test_only_the_stages_that_need_the_internet_reach_it() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    # OCR parses untrusted scans with a local Tesseract: no internet either.
    for stage in ("metadata", "content", "ocr"):
        assert _egress_ports(_policy(rendered, f"worker-{stage}")) == {53, 5432, 6379}, stage
    # The AI provider over HTTPS; webhook deliveries (validate queue) over HTTP(S).
    assert _egress_ports(_policy(rendered, "worker-ai")) == {53, 5432, 6379, 443}
    assert _egress_ports(_policy(rendered, "worker-validate")) == {53, 5432, 6379, 80, 443}
    for stage, port in (("ai", 443), ("validate", 443), ("validate", 80)):
        blocks = _public_blocks(_policy(rendered, f"worker-{stage}"), port)
        assert blocks, (stage, port)
        assert all({"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(b.get("except", [])) for b in blocks)


def test_workers_accept_no_connections_without_scrapers() -> None:
    rendered = render({"networkPolicy": {"metricsFrom": []}})
    for stage in STAGES:
        assert _policy(rendered, f"worker-{stage}")["spec"]["ingress"] == []


def test_postgresql_and_redis_accept_only_this_releases_pods() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    for component, port in (("postgresql", 5432), ("redis", 6379)):
        policy = _policy(rendered, component)
        (rule,) = policy["spec"]["ingress"]
        assert rule["ports"] == [{"port": port, "protocol": "TCP"}]
        assert rule["from"] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "aegis", "app.kubernetes.io/instance": RELEASE}}}
        ]
        assert policy["spec"]["egress"] == []


def test_keda_operator_may_read_redis_queue_lengths() -> None:
    rendered = render(merge(INGRESS_AND_NETWORK_POLICIES, KEDA))
    (rule,) = _policy(rendered, "redis")["spec"]["ingress"]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
        "podSelector": {"matchLabels": {"app": "keda-operator"}},
    } in rule["from"]


def test_flower_and_its_metrics_are_reachable_from_inside_only() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    (rule,) = _policy(rendered, "flower")["spec"]["ingress"]
    assert {"podSelector": {}} in rule["from"]
    assert not any("ipBlock" in peer for peer in rule["from"])
    assert not [i for i in rendered.kinds("Ingress") if "flower" in i["metadata"]["name"]]
    (service,) = rendered.component("Service", "flower")
    assert service["spec"]["type"] == "ClusterIP"


def test_external_services_are_reached_on_their_own_ports() -> None:
    rendered = render(
        merge(EXTERNAL_SERVICES, {"networkPolicy": {"externalDatabaseTo": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}})
    )
    assert not rendered.component("NetworkPolicy", "postgresql")
    assert not rendered.component("NetworkPolicy", "redis")
    policy = _policy(rendered, "worker-content")
    assert _egress_ports(policy) == {53, 5433, 6380}
    db_rule = next(r for r in policy["spec"]["egress"] if {"port": 5433, "protocol": "TCP"} in r["ports"])
    assert db_rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]


def test_network_policies_can_be_switched_off() -> None:
    assert render({"networkPolicy": {"enabled": False}}).kinds("NetworkPolicy") == []


def test_ingress_terminates_tls_for_the_gateway_service() -> None:
    rendered = render(INGRESS_AND_NETWORK_POLICIES)
    (ingress,) = rendered.kinds("Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "aegis-tls", "hosts": ["aegis.example.com"]}]
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    (service,) = rendered.component("Service", "gateway")
    assert backend["name"] == service["metadata"]["name"]
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_no_pod_gets_service_link_variables(value_set: tuple[str, dict[str, Any]]) -> None:
    """Service links would inject AEGIS_REDIS_PORT=tcp://… and the like."""
    _, values = value_set
    for obj in workloads(render(values)):
        assert pod_spec(obj).get("enableServiceLinks") is False, _where(obj)
