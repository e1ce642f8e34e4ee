"""``storage.type: s3``: no volume anywhere, the bucket's settings and credentials, IRSA, egress."""

from __future__ import annotations

from aegis.config import load_settings

from .chartlib import RELEASE, S3_STORAGE, STAGES, containers, env_of, merge, pod_spec, render, workloads

BLOB_USERS = ("gateway", *(f"worker-{s}" for s in STAGES))


def test_s3_storage_mounts_no_volume_and_keeps_temporaries_in_a_sized_empty_dir() -> None:
    rendered = render(S3_STORAGE)
    assert rendered.kinds("PersistentVolumeClaim") == [] or all(
        "storage" not in c["metadata"]["name"] for c in rendered.kinds("PersistentVolumeClaim")
    )
    config = rendered.config()
    assert "AEGIS_STORAGE_DIR" not in config
    temp_dir = config["AEGIS_TEMP_DIR"]
    for workload in workloads(rendered):
        volumes = pod_spec(workload).get("volumes", [])
        assert not [v for v in volumes if "persistentVolumeClaim" in v and v["name"] == "storage"]
        assert "storage" not in {v["name"] for v in volumes}
    for component in BLOB_USERS:
        (deployment,) = rendered.component("Deployment", component)
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        mounts = containers(deployment)[0]["volumeMounts"]
        tmp = next(m for m in mounts if temp_dir.startswith(m["mountPath"].rstrip("/") + "/"))
        assert volumes[tmp["name"]]["emptyDir"]["sizeLimit"], component


def test_s3_settings_render_into_a_configuration_aegis_accepts() -> None:
    config = render(S3_STORAGE).config()
    assert config["AEGIS_STORAGE_URL"] == "s3://aegis-docs/prod/eu"
    assert (config["AEGIS_S3_ENDPOINT_URL"], config["AEGIS_S3_ADDRESSING_STYLE"]) == (
        "https://minio.storage.svc:9000", "path")
    assert (config["AEGIS_S3_SSE"], config["AEGIS_S3_KMS_KEY_ID"], config["AWS_DEFAULT_REGION"]) == (
        "aws:kms", "alias/aegis", "eu-west-1")
    storage = load_settings(config).storage  # the processes will start with exactly this
    assert (storage.bucket, storage.prefix, storage.s3_sse) == ("aegis-docs", "prod/eu", "aws:kms")


def test_s3_credentials_come_from_the_existing_secret_for_every_blob_user() -> None:
    rendered = render(S3_STORAGE)
    for component in BLOB_USERS:
        (deployment,) = rendered.component("Deployment", component)
        env = env_of(containers(deployment)[0])
        for name, key in (("AWS_ACCESS_KEY_ID", "access-key-id"), ("AWS_SECRET_ACCESS_KEY", "secret-access-key")):
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == ("aegis-s3", key), component


def test_without_a_secret_the_pods_use_the_service_account_role() -> None:
    values = merge(S3_STORAGE, {"storage": {"s3": {"existingSecret": ""}}})
    rendered = render(values)
    account = rendered.get("ServiceAccount", RELEASE)
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(":role/aegis")
    for component in BLOB_USERS:
        (deployment,) = rendered.component("Deployment", component)
        assert pod_spec(deployment)["serviceAccountName"] == RELEASE
        assert "AWS_ACCESS_KEY_ID" not in env_of(containers(deployment)[0])


def test_network_policies_let_only_the_gateway_and_workers_reach_the_object_store() -> None:
    rendered = render(S3_STORAGE)
    https = {"ports": [{"port": 443, "protocol": "TCP"}]}
    for policy in rendered.kinds("NetworkPolicy"):
        component = policy["metadata"]["labels"]["app.kubernetes.io/component"]
        egress = policy["spec"].get("egress", [])
        if component in BLOB_USERS:
            assert https in egress, component
        elif component == "beat":
            assert https not in egress
    pvc = render().config()
    assert "AEGIS_STORAGE_URL" not in pvc and pvc["AEGIS_STORAGE_DIR"] == "/data/storage"
