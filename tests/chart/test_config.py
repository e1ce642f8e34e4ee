"""Settings, credentials, data services, migrations, backups and the operator's notes."""

from __future__ import annotations

import base64
import re

import yaml

from .chartlib import (
    CHART_DIR,
    EXTERNAL_SERVICES,
    MINIMAL,
    PRODUCTION,
    RELEASE,
    REPO,
    STAGES,
    Obj,
    Rendered,
    containers,
    env_of,
    merge,
    pod_spec,
    render,
    workloads,
)

APP_COMPONENTS = ("gateway", "beat", "flower", *(f"worker-{s}" for s in STAGES))
SECRETISH = re.compile(r"password|secret|api_key|token", re.IGNORECASE)


def _app_containers(rendered: Rendered) -> list[tuple[str, Obj]]:
    out = []
    for component in APP_COMPONENTS:
        for deployment in rendered.component("Deployment", component):
            out.extend((component, c) for c in containers(deployment))
    return out


def _secret_data(rendered: Rendered) -> dict[str, str]:
    secret = rendered.find("Secret", RELEASE)
    if secret is None:
        return {}
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def _ref(env: Obj) -> tuple[str, str]:
    ref = env["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


# --------------------------------------------------------------------------- settings


def test_every_app_process_reads_the_same_configmap_and_connection_env() -> None:
    rendered = render()
    configmap = rendered.get("ConfigMap", RELEASE)
    app = _app_containers(rendered)
    assert {component for component, _ in app} == set(APP_COMPONENTS)
    for component, container in app:
        assert {"configMapRef": {"name": configmap["metadata"]["name"]}} in container["envFrom"], component
        env = env_of(container)
        assert {"AEGIS_DATABASE_URL", "AEGIS_BROKER_URL"} <= set(env), component


def test_configmap_holds_settings_but_no_credentials() -> None:
    config = render(merge(PRODUCTION, {"ai": {"openai": {"baseUrl": "https://llm.example.com/v1"}}})).config()
    for stage in STAGES:
        assert int(config[f"AEGIS_TIME_LIMIT_{stage.upper()}"]) > 0
    assert int(config["AEGIS_VISIBILITY_TIMEOUT"]) > max(int(config[f"AEGIS_TIME_LIMIT_{s.upper()}"]) for s in STAGES)
    assert config["AEGIS_AI_PROVIDER"] == "openai"
    assert config["AEGIS_VECTOR_STORE"] == "pinecone"
    assert config["AEGIS_PINECONE_INDEX"] == "aegis"
    assert config["OPENAI_BASE_URL"] == "https://llm.example.com/v1"
    assert config["AEGIS_STORAGE_DIR"] == "/data/storage"
    assert not [key for key in config if SECRETISH.search(key)]
    assert all(isinstance(v, str) for v in config.values())


def test_task_events_follow_flower_unless_set() -> None:
    assert render().config()["AEGIS_TASK_EVENTS"] == "1"
    assert render({"flower": {"enabled": False}}).config()["AEGIS_TASK_EVENTS"] == "0"
    assert render({"config": {"taskEvents": False}}).config()["AEGIS_TASK_EVENTS"] == "0"
    assert render({"flower": {"enabled": False}, "config": {"taskEvents": True}}).config()["AEGIS_TASK_EVENTS"] == "1"


def test_extra_settings_reach_the_configmap() -> None:
    config = render({"config": {"extra": {"AEGIS_MAX_PAGES": 2000, "AEGIS_CHUNK_CHARS": "900"}}}).config()
    assert config["AEGIS_MAX_PAGES"] == "2000"
    assert config["AEGIS_CHUNK_CHARS"] == "900"


def test_ocr_settings_reach_the_configmap_and_default_to_the_applications() -> None:
    from aegis.ocr.settings import OcrSettings

    config = render().config()
    ocr = {k: v for k, v in config.items() if k == "AEGIS_OCR" or k.startswith("AEGIS_OCR_")}
    assert set(ocr) == {
        "AEGIS_OCR",
        "AEGIS_OCR_LANGUAGES",
        "AEGIS_OCR_DPI",
        "AEGIS_OCR_BATCH_PAGES",
        "AEGIS_OCR_MAX_PIXELS",
        "AEGIS_OCR_MAX_IMAGE_PIXELS",
        "AEGIS_OCR_PAGE_TIMEOUT",
        "AEGIS_OCR_MIN_TEXT_CHARS",
    }
    # The chart's defaults are the application's, read back the way a worker reads them.
    assert OcrSettings.from_env(ocr) == OcrSettings()

    custom = {
        "mode": "always",
        "languages": "eng+deu",
        "dpi": 200,
        "batchPages": 2,
        "maxPixels": 20000000,
        "maxImagePixels": 100000000,
        "pageTimeoutSeconds": 90.5,
        "minTextChars": 50,
    }
    config = render({"config": {"ocr": custom}}).config()
    assert OcrSettings.from_env(config) == OcrSettings(
        mode="always",
        languages="eng+deu",
        dpi=200,
        batch_pages=2,
        max_pixels=20_000_000,
        max_image_pixels=100_000_000,
        page_timeout=90.5,
        min_text_chars=50,
    )
    assert config["AEGIS_OCR_MAX_IMAGE_PIXELS"] == "100000000", "integers, never 1e+08"


def test_every_ocr_setting_is_documented_with_its_chart_value() -> None:
    doc = (REPO / "docs" / "ocr.md").read_text(encoding="utf-8")
    config = render().config()
    keys = [k for k in config if k == "AEGIS_OCR" or k.startswith("AEGIS_OCR_")] + ["AEGIS_TIME_LIMIT_OCR"]
    for key in keys:
        assert f"`{key}`" in doc, key
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for name in values["config"]["ocr"]:
        assert f"`config.ocr.{name}`" in doc, name


def test_ocr_settings_change_rolls_the_pods() -> None:
    def checksum(rendered: Rendered) -> str:
        (deployment,) = rendered.component("Deployment", "worker-ocr")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(render()) != checksum(render({"config": {"ocr": {"languages": "eng+fra"}}}))


def test_a_settings_change_rolls_every_app_pod_and_nothing_else_does() -> None:
    def checksums(rendered: Rendered) -> dict[str, dict[str, str]]:
        return {
            d["metadata"]["name"]: {
                k: v for k, v in d["spec"]["template"]["metadata"]["annotations"].items() if k.startswith("checksum/")
            }
            for d in rendered.kinds("Deployment")
        }

    base = checksums(render({"config": {"logLevel": "INFO"}}))
    same = checksums(render({"config": {"logLevel": "INFO"}, "gateway": {"replicas": 4}}))
    changed = checksums(render({"config": {"logLevel": "DEBUG"}}))
    rotated = checksums(render({"ai": {"openai": {"apiKey": "sk-new"}}}))
    assert base == same
    for name in base:
        assert base[name]["checksum/config"] != changed[name]["checksum/config"], name
        assert base[name]["checksum/secret"] != rotated[name]["checksum/secret"], name


# --------------------------------------------------------------------------- credentials


def test_bundled_services_get_generated_passwords_from_the_chart_secret() -> None:
    rendered = render()
    data = _secret_data(rendered)
    assert len(data["postgres-password"]) >= 24
    assert len(data["redis-password"]) >= 24
    user, _, password = data["flower-basic-auth"].partition(":")
    assert user == "admin" and password == data["flower-password"] and len(password) >= 24
    for component, container in _app_containers(rendered):
        env = env_of(container)
        assert _ref(env["AEGIS_DATABASE_PASSWORD"]) == (RELEASE, "postgres-password"), component
        assert env["AEGIS_DATABASE_URL"]["value"] == (
            f"postgresql://aegis:$(AEGIS_DATABASE_PASSWORD)@{RELEASE}-postgresql:5432/aegis"
        )
        assert _ref(env["AEGIS_REDIS_PASSWORD"]) == (RELEASE, "redis-password"), component
        assert env["AEGIS_BROKER_URL"]["value"] == f"redis://:$(AEGIS_REDIS_PASSWORD)@{RELEASE}-redis:6379/0"
        names = [e["name"] for e in container["env"]]
        # $(VAR) expansion only sees variables defined earlier in the list.
        assert names.index("AEGIS_DATABASE_PASSWORD") < names.index("AEGIS_DATABASE_URL")
        assert names.index("AEGIS_REDIS_PASSWORD") < names.index("AEGIS_BROKER_URL")


def test_given_credentials_land_in_the_secret_never_in_plain_env() -> None:
    rendered = render(
        {
            "postgresql": {"auth": {"password": "pg-pass"}},
            "redis": {"auth": {"password": "redis-pass"}},
            "ai": {"provider": "openai", "openai": {"apiKey": "sk-test"}},
            "webhooks": {"secret": "hook-secret"},
            "flower": {"auth": {"username": "ops", "password": "flower-pass"}},
        }
    )
    data = _secret_data(rendered)
    assert data["postgres-password"] == "pg-pass"
    assert data["redis-password"] == "redis-pass"
    assert data["openai-api-key"] == "sk-test"
    assert data["webhook-secret"] == "hook-secret"
    assert data["flower-basic-auth"] == "ops:flower-pass"
    for obj in workloads(rendered):
        for container in containers(obj):
            for env in container.get("env", []):
                assert env.get("value", "") not in {"pg-pass", "redis-pass", "sk-test", "hook-secret", "flower-pass"}
    (worker,) = containers(rendered.workers()["ai"])
    assert _ref(env_of(worker)["OPENAI_API_KEY"]) == (RELEASE, "openai-api-key")
    assert _ref(env_of(worker)["AEGIS_WEBHOOK_SECRET"]) == (RELEASE, "webhook-secret")


def test_every_credential_can_come_from_an_existing_secret() -> None:
    rendered = render(PRODUCTION)
    assert rendered.find("Secret", RELEASE) is None, "nothing left for the chart to manage"
    expected = {
        "AEGIS_DATABASE_PASSWORD": ("aegis-db", "password"),
        "AEGIS_REDIS_PASSWORD": ("aegis-redis", "redis-password"),
        "OPENAI_API_KEY": ("aegis-openai", "api-key"),
        "PINECONE_API_KEY": ("aegis-pinecone", "api-key"),
        "AEGIS_WEBHOOK_SECRET": ("aegis-webhooks", "secret"),
    }
    for component, container in _app_containers(rendered):
        env = env_of(container)
        for name, ref in expected.items():
            assert _ref(env[name]) == ref, (component, name)
    (flower,) = rendered.component("Deployment", "flower")
    assert _ref(env_of(containers(flower)[0])["FLOWER_BASIC_AUTH"]) == ("aegis-flower", "auth")


def test_a_full_database_url_can_come_from_an_existing_secret() -> None:
    rendered = render(merge(EXTERNAL_SERVICES, {"externalDatabase": {"existingSecretUrlKey": "url", "host": ""}}))
    for component, container in _app_containers(rendered):
        env = env_of(container)
        assert _ref(env["AEGIS_DATABASE_URL"]) == ("aegis-db", "url"), component
        assert "AEGIS_DATABASE_PASSWORD" not in env


def test_external_database_and_redis_replace_the_bundled_ones() -> None:
    rendered = render(EXTERNAL_SERVICES)
    assert rendered.kinds("StatefulSet") == []
    assert not rendered.component("Service", "postgresql") and not rendered.component("Service", "redis")
    for component, container in _app_containers(rendered):
        env = env_of(container)
        assert env["AEGIS_DATABASE_URL"]["value"] == (
            "postgresql://aegis_app:$(AEGIS_DATABASE_PASSWORD)@pg.db.example.internal:5433/aegis_prod?sslmode=require"
        ), component
        assert env["AEGIS_BROKER_URL"]["value"] == (
            "rediss://:$(AEGIS_REDIS_PASSWORD)@redis.cache.example.internal:6380/2"
        ), component


def test_external_redis_acl_user_goes_into_the_broker_url() -> None:
    rendered = render(merge(EXTERNAL_SERVICES, {"externalRedis": {"username": "aegis"}}))
    (gateway,) = rendered.component("Deployment", "gateway")
    env = env_of(containers(gateway)[0])
    assert env["AEGIS_REDIS_USERNAME"]["value"] == "aegis"
    assert env["AEGIS_BROKER_URL"]["value"].startswith("rediss://$(AEGIS_REDIS_USERNAME):$(AEGIS_REDIS_PASSWORD)@")


# --------------------------------------------------------------------------- data services


def test_bundled_redis_keeps_an_append_only_file_and_never_evicts() -> None:
    rendered = render()
    conf = rendered.get("ConfigMap", f"{RELEASE}-redis")["data"]["redis.conf"]
    directives = dict(line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert directives["appendonly"] == "yes"
    assert directives["maxmemory-policy"] == "noeviction"
    assert directives["dir"] == "/data"
    (redis,) = rendered.component("StatefulSet", "redis")
    assert redis["spec"]["replicas"] == 1
    assert {"name": "data", "mountPath": "/data"} in containers(redis)[0]["volumeMounts"]
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"


def test_bundled_postgresql_keeps_its_data_on_a_claim() -> None:
    (pg,) = render().component("StatefulSet", "postgresql")
    container = containers(pg)[0]
    env = env_of(container)
    assert env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/")
    assert _ref(env["POSTGRES_PASSWORD"]) == (RELEASE, "postgres-password")
    assert pg["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"


def test_shared_storage_is_one_read_write_many_claim_mounted_by_gateway_and_workers() -> None:
    rendered = render()
    claim = rendered.get("PersistentVolumeClaim", f"{RELEASE}-storage")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    storage_dir = rendered.config()["AEGIS_STORAGE_DIR"]
    for component in ("gateway", *(f"worker-{s}" for s in STAGES)):
        (deployment,) = rendered.component("Deployment", component)
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        mount = next(m for m in containers(deployment)[0]["volumeMounts"] if m["mountPath"] == storage_dir)
        assert volumes[mount["name"]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"], component


def test_an_existing_storage_claim_is_used_as_is() -> None:
    rendered = render({"storage": {"persistence": {"existingClaim": "nfs-documents"}}})
    assert rendered.find("PersistentVolumeClaim", f"{RELEASE}-storage") is None
    (deployment,) = rendered.component("Deployment", "worker-content")
    claims = [
        v["persistentVolumeClaim"]["claimName"] for v in pod_spec(deployment)["volumes"] if "persistentVolumeClaim" in v
    ]
    assert claims == ["nfs-documents"]


def test_backup_cronjob_dumps_the_database_to_its_own_claim() -> None:
    rendered = render()
    (cron,) = rendered.kinds("CronJob")
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    (container,) = containers(cron)
    script = container["args"][0]
    assert "pg_dump" in script and "--format=custom" in script and '"$AEGIS_DATABASE_URL"' in script
    assert "tail -n +$((KEEP + 1))" in script
    assert env_of(container)["KEEP"]["value"] == "7"
    volumes = {v["name"]: v for v in pod_spec(cron)["volumes"]}
    assert volumes["backups"]["persistentVolumeClaim"]["claimName"] == f"{RELEASE}-backups"
    assert rendered.get("PersistentVolumeClaim", f"{RELEASE}-backups")["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep"
    }


def test_backups_also_cover_an_external_database() -> None:
    (cron,) = render(EXTERNAL_SERVICES).kinds("CronJob")
    env = env_of(containers(cron)[0])
    assert "pg.db.example.internal:5433" in env["AEGIS_DATABASE_URL"]["value"]


# --------------------------------------------------------------------------- migrations


def _migrations(rendered: Rendered) -> Obj:
    (job,) = rendered.component("Job", "migrations")
    return job


def test_migrations_run_as_a_hook_before_every_upgrade() -> None:
    job = _migrations(render())
    (container,) = containers(job)
    assert container["args"] == ["aegis", "db", "upgrade"]
    annotations = job["metadata"]["annotations"]
    # The bundled PostgreSQL only exists once installed: first run after install.
    assert annotations["helm.sh/hook"] == "post-install,pre-upgrade"
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]


def test_migrations_run_before_install_against_an_external_database() -> None:
    rendered = render(EXTERNAL_SERVICES)
    job = _migrations(rendered)
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    spec = pod_spec(job)
    # Before install, nothing of the release exists: no ConfigMap, Secret or SA.
    (container,) = containers(job)
    assert "envFrom" not in container
    env = env_of(container)
    assert env["AEGIS_TIME_LIMIT_AI"]["value"] == rendered.config()["AEGIS_TIME_LIMIT_AI"]
    assert _ref(env["AEGIS_DATABASE_PASSWORD"]) == ("aegis-db", "password")
    assert spec["serviceAccountName"] == "default"
    assert spec["restartPolicy"] == "Never"


def test_pre_install_migrations_get_an_inline_password_from_a_hook_secret() -> None:
    values = merge(EXTERNAL_SERVICES, {"externalDatabase": {"existingSecret": "", "password": "s3cret"}})
    rendered = render(values)
    hook_secret = rendered.get("Secret", f"{RELEASE}-migrations")
    assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        _migrations(rendered)["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert base64.b64decode(hook_secret["data"]["database-password"]).decode() == "s3cret"
    env = env_of(containers(_migrations(rendered))[0])
    assert _ref(env["AEGIS_DATABASE_PASSWORD"]) == (f"{RELEASE}-migrations", "database-password")
    # The long-running pods read the same password from the release's Secret.
    (gateway,) = rendered.component("Deployment", "gateway")
    assert _ref(env_of(containers(gateway)[0])["AEGIS_DATABASE_PASSWORD"]) == (RELEASE, "database-password")


def test_migrations_need_no_ai_keys_because_they_run_with_the_local_provider() -> None:
    """``aegis db upgrade`` validates settings; the Job gets no OpenAI/Pinecone keys."""
    rendered = render({"ai": {
        "provider": "openai", "openai": {"apiKey": "sk-test"},
        "vectorStore": "pinecone", "pinecone": {"apiKey": "pc-test", "index": "chunks"},
    }})
    assert rendered.config()["AEGIS_AI_PROVIDER"] == "openai"
    env = env_of(containers(_migrations(rendered))[0])
    assert env["AEGIS_AI_PROVIDER"]["value"] == "local"
    assert env["AEGIS_VECTOR_STORE"]["value"] == "local"
    assert "OPENAI_API_KEY" not in env and "PINECONE_API_KEY" not in env


def test_without_hooks_migrations_are_a_plain_job_for_gitops() -> None:
    job = _migrations(render(PRODUCTION))
    assert not any(k.startswith("helm.sh/hook") for k in job["metadata"].get("annotations") or {})
    assert job["spec"]["ttlSecondsAfterFinished"] > 0


def test_migrations_can_be_switched_off() -> None:
    assert not render({"migrations": {"enabled": False}}).component("Job", "migrations")


# --------------------------------------------------------------------------- test hook and notes


def test_helm_test_hook_calls_the_gateway_ready_endpoint() -> None:
    rendered = render()
    (pod,) = rendered.kinds("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (service,) = rendered.component("Service", "gateway")
    port = service["spec"]["ports"][0]["port"]
    assert pod["spec"]["containers"][0]["args"][-1] == f"http://{service['metadata']['name']}:{port}/ready"
    assert pod["spec"]["restartPolicy"] == "Never"


def test_gateway_probes_use_health_for_liveness_and_ready_for_readiness() -> None:
    (gateway,) = render().component("Deployment", "gateway")
    (container,) = containers(gateway)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    args = container["args"]
    assert args[0] == "gunicorn" and args[-1] == "web:create_app()"
    assert "--bind=0.0.0.0:8000" in args


def test_flower_reads_basic_auth_from_a_secret() -> None:
    (flower,) = render().component("Deployment", "flower")
    (container,) = containers(flower)
    assert container["args"][:4] == ["celery", "-A", "tasks", "flower"]
    assert _ref(env_of(container)["FLOWER_BASIC_AUTH"]) == (RELEASE, "flower-basic-auth")


def test_notes_tell_how_to_reach_gateway_and_flower_and_create_a_tenant() -> None:
    notes = render().notes
    assert f"port-forward service/{RELEASE}-gateway" in notes
    assert f"port-forward service/{RELEASE}-flower" in notes
    assert f"exec deploy/{RELEASE}-gateway -- aegis tenant create" in notes
    assert "helm test" in notes
    ingress_notes = render(
        {"gateway": {"ingress": {"enabled": True, "tls": [{"secretName": "t", "hosts": ["aegis.example.com"]}]}}}
    ).notes
    assert "https://aegis.example.com/" in ingress_notes


def test_notes_warn_when_documents_are_not_shared() -> None:
    assert "WARNING" in render(MINIMAL).notes
    assert "WARNING" not in render().notes


def test_gateway_metrics_merge_every_gunicorn_worker() -> None:
    (gateway,) = render().component("Deployment", "gateway")
    (container,) = containers(gateway)
    directory = env_of(container)["PROMETHEUS_MULTIPROC_DIR"]["value"]
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == directory)
    volumes = {v["name"]: v for v in pod_spec(gateway)["volumes"]}
    assert "emptyDir" in volumes[mount["name"]]
    (plain,) = render({"gateway": {"multiprocessMetrics": False}}).component("Deployment", "gateway")
    assert "PROMETHEUS_MULTIPROC_DIR" not in env_of(containers(plain)[0])


def test_gateway_drains_before_gunicorn_stops() -> None:
    (gateway,) = render().component("Deployment", "gateway")
    (container,) = containers(gateway)
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    graceful = int(next(a for a in container["args"] if a.startswith("--graceful-timeout=")).split("=")[1])
    assert sleep > 0
    assert sleep + graceful < pod_spec(gateway)["terminationGracePeriodSeconds"]


def test_flower_probes_follow_its_url_prefix() -> None:
    (flower,) = render({"flower": {"urlPrefix": "/flower/"}}).component("Deployment", "flower")
    (container,) = containers(flower)
    assert "--url_prefix=/flower/" in container["args"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/flower/healthcheck"
    assert container["readinessProbe"]["httpGet"]["path"] == "/flower/healthcheck"
    (plain,) = render().component("Deployment", "flower")
    assert containers(plain)[0]["livenessProbe"]["httpGet"]["path"] == "/healthcheck"


def test_fair_shares_bound_is_the_workers_slots_unless_set() -> None:
    """AEGIS_PIPELINE_SLOTS follows the workers' sizing: concurrency x replicas, maxReplicas where autoscaled."""
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    workers = values["workers"]
    expected = sum(
        w["concurrency"] * (w["autoscaling"]["maxReplicas"] if w["autoscaling"]["enabled"] else w["replicas"])
        for w in workers.values() if w["enabled"]
    )
    data = render().get("ConfigMap", RELEASE)["data"]
    assert data["AEGIS_PIPELINE_SLOTS"] == str(expected)
    assert "AEGIS_TENANT_MAX_IN_FLIGHT" not in data  # 0: a tenant's ceiling is the installation's slots
    fixed = {name: {"autoscaling": {"enabled": False}, "replicas": 2, "concurrency": 3} for name in workers}
    data = render({"workers": fixed}).get("ConfigMap", RELEASE)["data"]
    assert data["AEGIS_PIPELINE_SLOTS"] == str(2 * 3 * len(workers))
    data = render({"config": {"pipelineSlots": 7, "tenantMaxInFlight": 4}}).get("ConfigMap", RELEASE)["data"]
    assert (data["AEGIS_PIPELINE_SLOTS"], data["AEGIS_TENANT_MAX_IN_FLIGHT"]) == ("7", "4")
