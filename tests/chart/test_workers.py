"""Workers: one Deployment per stage, each on its own queue, scaling and stopping safely."""

from __future__ import annotations

from pathlib import Path

import helm_python
import pytest

from aegis.pipeline.priority import queue_lists
from tasks import probes

from .chartlib import (
    EXTERNAL_SERVICES,
    KEDA,
    RABBITMQ,
    RELEASE,
    STAGES,
    arg_after,
    containers,
    env_of,
    merge,
    pod_spec,
    render,
)


def test_one_worker_deployment_per_stage_consuming_only_its_queue() -> None:
    workers = render().workers()
    assert sorted(workers) == sorted(STAGES)
    for stage, deployment in workers.items():
        (container,) = containers(deployment)
        args = container["args"]
        assert args[:4] == ["celery", "-A", "tasks", "worker"], args
        assert arg_after(args, "-Q") == stage
        assert arg_after(args, "-n") == f"{stage}@%h"
        assert int(arg_after(args, "--concurrency")) >= 1


def test_worker_concurrency_and_extra_env_come_from_its_own_entry() -> None:
    workers = render({"workers": {"content": {"concurrency": 7, "env": {"AEGIS_PARSER_MEMORY_MB": 4096}}}}).workers()
    content = containers(workers["content"])[0]
    assert arg_after(content["args"], "--concurrency") == "7"
    assert env_of(content)["AEGIS_PARSER_MEMORY_MB"]["value"] == "4096"
    assert arg_after(containers(workers["validate"])[0]["args"], "--concurrency") == "4"
    assert "AEGIS_PARSER_MEMORY_MB" not in env_of(containers(workers["validate"])[0])


def test_grace_period_exceeds_the_hard_time_limit_of_each_stage() -> None:
    rendered = render()
    config = rendered.config()
    for stage, deployment in rendered.workers().items():
        limit = int(config[f"AEGIS_TIME_LIMIT_{stage.upper()}"])
        assert pod_spec(deployment)["terminationGracePeriodSeconds"] > limit, stage


def test_raising_a_time_limit_raises_the_grace_period_with_it() -> None:
    rendered = render({"config": {"visibilityTimeout": 7200}, "workers": {"ai": {"timeLimitSeconds": 1800}}})
    assert rendered.config()["AEGIS_TIME_LIMIT_AI"] == "1800"
    assert pod_spec(rendered.workers()["ai"])["terminationGracePeriodSeconds"] > 1800


def test_a_worker_folding_two_queues_waits_for_the_slower_stage() -> None:
    rendered = render(
        {
            "workers": {
                "metadata": {"queue": "metadata,content"},
                "content": {"enabled": False},
            }
        }
    )
    workers = rendered.workers()
    assert "content" not in workers
    metadata = workers["metadata"]
    assert arg_after(containers(metadata)[0]["args"], "-Q") == "metadata,content"
    assert pod_spec(metadata)["terminationGracePeriodSeconds"] > int(rendered.config()["AEGIS_TIME_LIMIT_CONTENT"])


def test_explicit_grace_period_shorter_than_the_time_limit_is_refused() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="terminationGracePeriodSeconds"):
        render({"workers": {"content": {"terminationGracePeriodSeconds": 120}}})


def test_a_queue_nobody_consumes_is_refused() -> None:
    with pytest.raises(helm_python.HelmRenderError, match='"metadata" queue'):
        render({"workers": {"metadata": {"enabled": False}}})


def test_workers_shut_down_warm_under_tini() -> None:
    """SIGTERM must reach Celery (warm shutdown), so args run under the image's tini
    entrypoint; a `command` would replace it, and REMAP_SIGTERM would make it cold."""
    for deployment in render().workers().values():
        (container,) = containers(deployment)
        assert "command" not in container
        assert "REMAP_SIGTERM" not in env_of(container)


def test_worker_probes_read_heartbeat_files_instead_of_pinging_celery() -> None:
    for stage, deployment in render().workers().items():
        (container,) = containers(deployment)
        heartbeat = env_of(container)["AEGIS_HEARTBEAT_FILE"]["value"]
        liveness = " ".join(container["livenessProbe"]["exec"]["command"])
        readiness = " ".join(container["readinessProbe"]["exec"]["command"])
        startup = " ".join(container["startupProbe"]["exec"]["command"])
        for probe in (liveness, readiness, startup):
            assert "inspect" not in probe and "celery" not in probe, stage
        assert "find" in liveness and "-mmin" in liveness and "$AEGIS_HEARTBEAT_FILE" in liveness
        # The readiness file is the one tasks/probes.py creates on worker_ready.
        ready_suffix = probes.ready_path(Path(heartbeat)).name.removeprefix(Path(heartbeat).name)
        assert f"$AEGIS_HEARTBEAT_FILE{ready_suffix}" in readiness
        # The files live on a writable volume, not the read-only root.
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert any(heartbeat.startswith(m.rstrip("/") + "/") for m in mounts), heartbeat


def test_liveness_tolerates_several_missed_heartbeats() -> None:
    """The bootstep beats every 10 s; the probe must not restart a worker after one miss."""
    for deployment in render().workers().values():
        liveness = containers(deployment)[0]["livenessProbe"]
        command = liveness["exec"]["command"][-1]
        minutes = int(command.split("-mmin -")[1].split()[0])
        assert minutes * 60 >= 6 * probes.HEARTBEAT_INTERVAL
        assert liveness["failureThreshold"] >= 2


def test_workers_scale_on_cpu_and_memory_up_fast_and_down_slow() -> None:
    rendered = render()
    for stage in STAGES:
        hpa = rendered.get("HorizontalPodAutoscaler", f"{RELEASE}-worker-{stage}")
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"{RELEASE}-worker-{stage}",
        }
        resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"]}
        assert resources == {"cpu", "memory"}
        behavior = hpa["spec"]["behavior"]
        assert behavior["scaleUp"]["stabilizationWindowSeconds"] == 0
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300
        assert max(p["value"] for p in behavior["scaleDown"]["policies"] if p["type"] == "Pods") <= 1


def test_autoscaled_deployments_leave_replicas_to_the_autoscaler() -> None:
    rendered = render()
    for deployment in rendered.workers().values():
        assert "replicas" not in deployment["spec"]
    fixed = render({"workers": {"ai": {"replicas": 3, "autoscaling": {"enabled": False}}}})
    assert fixed.workers()["ai"]["spec"]["replicas"] == 3
    assert fixed.find("HorizontalPodAutoscaler", f"{RELEASE}-worker-ai") is None


def test_keda_scales_each_worker_on_its_queue_length_instead_of_an_hpa() -> None:
    rendered = render(KEDA)
    worker_hpas = [h for h in rendered.kinds("HorizontalPodAutoscaler") if "worker" in h["metadata"]["name"]]
    assert worker_hpas == [], "KEDA owns the workers' HPAs: two autoscalers would fight"
    assert rendered.find("HorizontalPodAutoscaler", f"{RELEASE}-gateway") is not None
    auth = rendered.get("TriggerAuthentication", f"{RELEASE}-keda-redis")
    assert auth["spec"]["secretTargetRef"] == [{"parameter": "password", "name": RELEASE, "key": "redis-password"}]
    for stage in STAGES:
        scaled = rendered.get("ScaledObject", f"{RELEASE}-worker-{stage}")
        assert scaled["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-worker-{stage}"
        triggers = scaled["spec"]["triggers"]
        # One trigger per priority list of the queue (fair share): the lists kombu writes.
        assert [t["metadata"]["listName"] for t in triggers] == queue_lists(stage)
        for trigger in triggers:
            assert trigger["type"] == "redis"
            assert trigger["metadata"]["address"] == f"{RELEASE}-redis.docs.svc:6379"
            assert int(trigger["metadata"]["listLength"]) >= 1
            assert trigger["authenticationRef"]["name"] == f"{RELEASE}-keda-redis"
        behavior = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_keda_watches_every_queue_of_a_folded_worker() -> None:
    rendered = render(
        merge(KEDA, {"workers": {"metadata": {"queue": "metadata,content"}, "content": {"enabled": False}}})
    )
    scaled = rendered.get("ScaledObject", f"{RELEASE}-worker-metadata")
    assert [t["metadata"]["listName"] for t in scaled["spec"]["triggers"]] == [
        *queue_lists("metadata"), *queue_lists("content"),
    ]
    assert rendered.find("ScaledObject", f"{RELEASE}-worker-content") is None


def test_keda_may_scale_a_worker_to_zero_but_an_hpa_may_not() -> None:
    zero = {"workers": {"ai": {"autoscaling": {"minReplicas": 0}}}}
    scaled = render(merge(KEDA, zero)).get("ScaledObject", f"{RELEASE}-worker-ai")
    assert scaled["spec"]["minReplicaCount"] == 0
    with pytest.raises(helm_python.HelmRenderError, match="scaling to zero needs keda"):
        render(zero)


def test_keda_uses_external_redis_with_tls() -> None:
    rendered = render(merge(EXTERNAL_SERVICES, KEDA))
    trigger = rendered.get("ScaledObject", f"{RELEASE}-worker-ai")["spec"]["triggers"][0]["metadata"]
    assert trigger["address"] == "redis.cache.example.internal:6380"
    assert trigger["enableTLS"] == "true"
    assert trigger["databaseIndex"] == "2"
    auth = rendered.get("TriggerAuthentication", f"{RELEASE}-keda-redis")
    assert auth["spec"]["secretTargetRef"][0]["name"] == "aegis-redis"


def test_ocr_worker_set_renders_with_its_autoscaler() -> None:
    """The fan-out stage: its own Deployment on the ``ocr`` queue, sized one process per
    CPU (Tesseract runs single-threaded), an HPA by default and KEDA on the queue."""
    name = f"{RELEASE}-worker-ocr"
    rendered = render()
    deployment = rendered.workers()["ocr"]
    (container,) = containers(deployment)
    assert arg_after(container["args"], "-Q") == "ocr"
    assert arg_after(container["args"], "-n") == "ocr@%h"
    assert int(arg_after(container["args"], "--concurrency")) == int(container["resources"]["limits"]["cpu"])
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "2Gi"}
    # The limit bounds one batch of pages; a rollout lets the running batch finish.
    assert rendered.config()["AEGIS_TIME_LIMIT_OCR"] == "300"
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] > 300
    env = env_of(container)
    assert 0 < int(env["AEGIS_PARSER_MEMORY_MB"]["value"]) * 1024 * 1024 < 2 * 1024**3
    assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container)

    hpa = rendered.get("HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert hpa["spec"]["minReplicas"] >= 1
    assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
    assert {m["resource"]["name"] for m in hpa["spec"]["metrics"]} == {"cpu", "memory"}
    pdb = rendered.get("PodDisruptionBudget", name)
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert rendered.find("ScaledObject", name) is None

    keda = render(KEDA)
    assert keda.find("HorizontalPodAutoscaler", name) is None
    scaled = keda.get("ScaledObject", name)
    assert scaled["spec"]["scaleTargetRef"]["name"] == name
    trigger, normal = scaled["spec"]["triggers"]
    assert trigger["type"] == normal["type"] == "redis"
    assert [trigger["metadata"]["listName"], normal["metadata"]["listName"]] == queue_lists("ocr")
    # One message is a batch of pages lasting tens of seconds: few per replica.
    assert 1 <= int(trigger["metadata"]["listLength"]) <= 4
    assert keda.get("PodDisruptionBudget", name)


def test_ocr_can_be_folded_into_the_content_worker_on_a_small_cluster() -> None:
    rendered = render({"workers": {"content": {"queue": "content,ocr"}, "ocr": {"enabled": False}}})
    workers = rendered.workers()
    assert "ocr" not in workers
    assert arg_after(containers(workers["content"])[0]["args"], "-Q") == "content,ocr"
    assert rendered.find("HorizontalPodAutoscaler", f"{RELEASE}-worker-ocr") is None
    with pytest.raises(helm_python.HelmRenderError, match='"ocr" queue'):
        render({"workers": {"ocr": {"enabled": False}}})


def test_every_worker_has_a_disruption_budget() -> None:
    rendered = render()
    for stage, deployment in rendered.workers().items():
        pdb = rendered.get("PodDisruptionBudget", f"{RELEASE}-worker-{stage}")
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] == 1


def test_beat_runs_exactly_one_replica_replaced_not_rolled() -> None:
    rendered = render({"gateway": {"replicas": 5}})
    (beat,) = rendered.component("Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert containers(beat)[0]["args"][:4] == ["celery", "-A", "tasks", "beat"]
    assert not rendered.component("HorizontalPodAutoscaler", "beat")
    assert not rendered.component("ScaledObject", "beat")


def test_beat_schedule_file_is_where_its_probes_look() -> None:
    """celeryconfig puts the schedule under AEGIS_DATA_DIR; the probes read that folder
    and it must be the writable /tmp volume."""
    rendered = render()
    (beat,) = rendered.component("Deployment", "beat")
    container = containers(beat)[0]
    data_dir = rendered.config()["AEGIS_DATA_DIR"]
    assert data_dir == "/tmp"
    assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "$AEGIS_DATA_DIR" in container[probe]["exec"]["command"][-1]


def test_chart_time_limits_default_to_the_applications() -> None:
    from aegis.config import DEFAULT_TIME_LIMITS

    config = render().config()
    assert {s: int(config[f"AEGIS_TIME_LIMIT_{s.upper()}"]) for s in STAGES} == DEFAULT_TIME_LIMITS


def test_chart_workers_match_the_stage_registry() -> None:
    """values.yaml's ``workers:`` keys, queues and time limits are the registry's."""
    import yaml

    from aegis.pipeline.registry import REGISTRY

    values = yaml.safe_load((Path(__file__).resolve().parents[2] / "helm/aegis/values.yaml").read_text())
    workers = values["workers"]
    assert sorted(workers) == sorted(REGISTRY.names)
    for spec in REGISTRY:
        assert workers[spec.name]["queue"] == spec.queue, spec.name
        assert workers[spec.name]["timeLimitSeconds"] == spec.time_limit, spec.name


def test_with_an_external_rabbitmq_every_process_uses_it_and_keda_reads_its_queue_lengths() -> None:
    rendered = render(RABBITMQ)
    for name in [f"worker-{stage}" for stage in STAGES] + ["gateway", "beat"]:
        env = env_of(containers(rendered.get("Deployment", f"{RELEASE}-{name}"))[0])
        assert env["AEGIS_BROKER_URL"]["valueFrom"]["secretKeyRef"] == {"name": "aegis-rabbitmq", "key": "url"}
        # Live events and stream counters still go through the bundled Redis.
        assert env["AEGIS_EVENTS_URL"]["value"].startswith("redis://")
    assert rendered.kinds("TriggerAuthentication") == []
    for stage in STAGES:
        scaled = rendered.get("ScaledObject", f"{RELEASE}-worker-{stage}")
        assert scaled["spec"]["scaleTargetRef"]["envSourceContainerName"] == "worker"
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        assert trigger["metadata"]["queueName"] == stage
        assert trigger["metadata"]["mode"] == "QueueLength"
        assert trigger["metadata"]["hostFromEnv"] == "AEGIS_BROKER_URL"
    policy = rendered.get("NetworkPolicy", f"{RELEASE}-worker-ocr")
    assert {"ipBlock": {"cidr": "10.20.0.0/16"}} in [t for rule in policy["spec"]["egress"] for t in rule.get("to", [])]


def test_an_external_broker_without_a_url_is_refused() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="externalBroker.enabled: set"):
        render({"externalBroker": {"enabled": True}})


def test_an_external_sentinel_set_carries_broker_events_and_keda() -> None:
    sentinel = {
        "redis": {"enabled": False},
        "externalRedis": {
            "existingSecret": "aegis-redis", "database": 1,
            "sentinel": {"enabled": True, "hosts": ["s0.redis:26379", "s1.redis:26379"], "masterName": "aegis"},
        },
        "networkPolicy": {"enabled": True},
    }
    rendered = render(merge(KEDA, sentinel))
    env = env_of(containers(rendered.get("Deployment", f"{RELEASE}-worker-ocr"))[0])
    assert env["AEGIS_BROKER_URL"]["value"] == (
        "sentinel://:$(AEGIS_REDIS_PASSWORD)@s0.redis:26379;sentinel://s1.redis:26379/1"
    )
    assert env["AEGIS_SENTINEL_MASTER"]["value"] == "aegis"
    trigger, normal = rendered.get("ScaledObject", f"{RELEASE}-worker-ocr")["spec"]["triggers"]
    assert trigger["type"] == normal["type"] == "redis-sentinel"
    assert [trigger["metadata"]["listName"], normal["metadata"]["listName"]] == queue_lists("ocr")
    assert trigger["metadata"]["addresses"] == "s0.redis:26379,s1.redis:26379"
    assert trigger["metadata"]["sentinelMaster"] == "aegis"
    policy = rendered.get("NetworkPolicy", f"{RELEASE}-worker-ocr")
    assert {"port": 26379, "protocol": "TCP"} in [p for rule in policy["spec"]["egress"] for p in rule.get("ports", [])]
