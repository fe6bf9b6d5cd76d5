"""docker-compose.yml is for production; no engine runs here, so check it against the Compose
Specification's JSON schema (vendored in tests/reference/compose, so the check runs on any clean
clone) and check what the README promises: every service it names, pinned images, Celery workers
on Redis, health checks, secrets from the environment, Superset reading as lnob_bi_reader (the
same pinned Superset, configuration and set-up code tests/test_bi.py runs)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "reference" / "compose" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
AIRFLOW = [
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
]
LONG_RUNNING = ["airflow-db", "redis", "warehouse", *AIRFLOW, "superset-db", "superset"]
ONE_SHOT = ["airflow-init", "warehouse-init", "superset-init", "superset-setup"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def test_compose_file_matches_the_compose_specification(compose):
    jsonschema.validate(compose, json.loads(SCHEMA.read_text()))


def test_the_schema_is_vendored_with_its_licence_and_source():
    folder = SCHEMA.parent
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "compose-spec/compose-spec" in (folder / "SOURCE.txt").read_text()


def test_every_service_the_readme_names_is_there(services):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z][a-z0-9-]+)`", section)) & (
        set(LONG_RUNNING) | set(ONE_SHOT) | {"flower"}
    )
    assert set(LONG_RUNNING) | set(ONE_SHOT) <= named, "README does not name every service"
    for name in named:
        assert name in services, f"README names {name}, compose has no such service"
    for name in LONG_RUNNING + ONE_SHOT:
        assert name in services, name


def test_every_image_is_pinned(services):
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and tag != "latest" and "$" not in image, f"{name}: image {image} is not pinned"
    dockerfile = (ROOT / "Dockerfile").read_text()
    (base,) = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert re.fullmatch(r"apache/airflow:\d+\.\d+\.\d+-python3\.11", base), base
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert base.split(":")[1].startswith(pinned + "-"), "the image's Airflow differs from requirements.txt"


def test_airflow_runs_celery_on_redis_with_airflow_3_settings(services):
    for name in AIRFLOW:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        for secret in (
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__API__SECRET_KEY",
            "AIRFLOW__CORE__FERNET_KEY",
        ):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", env[secret]), (
                f"{name}: {secret} must come from .env"
            )
        assert "airflow-db" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    worker = services["airflow-worker"]
    assert worker["command"] == "celery worker"
    assert worker["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    # replicas must not clash: no fixed name, no published port
    assert "container_name" not in worker and "ports" not in worker
    assert services["airflow-apiserver"]["command"] == "api-server"


def test_compose_runs_the_celery_configuration_the_scale_out_test_runs(services):
    """tests/test_celery_scale_out.py and `make bench-celery` start Airflow with
    lnob.airflow.airflow_env.celery_environment: compose sets every one of those settings, under the
    same names, for every Airflow service, and the worker-facing values agree."""
    from lnob.airflow import airflow_env

    local = airflow_env.celery_environment(
        "postgresql://lnob:x@127.0.0.1:5432/lnob",
        "postgresql+psycopg2://airflow:x@127.0.0.1:5432/airflow",
        "redis://127.0.0.1:6379/0",
        "http://127.0.0.1:8080",
        jwt_secret="x",
    )
    base = airflow_env.environment("postgresql://lnob:x@127.0.0.1:5432/lnob")
    celery_names = {k for k in local if k not in base or local[k] != base[k]} - {
        "AIRFLOW_CONN_LNOB_WAREHOUSE"
    }
    assert {
        "AIRFLOW__CORE__EXECUTOR",
        "AIRFLOW__CELERY__BROKER_URL",
        "AIRFLOW__CELERY__RESULT_BACKEND",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE",
    } <= celery_names
    for name in AIRFLOW:
        env = services[name]["environment"]
        missing = celery_names - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        for var in (
            "AIRFLOW__CORE__EXECUTOR",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE",
            "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER",
        ):
            assert env[var] == local[var], (name, var)
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
        # a dead worker's task is failed after the heartbeat timeout and retried elsewhere
        assert int(env["LNOB_TASK_RETRIES"]) >= 1 and int(env["LNOB_TASK_RETRY_DELAY"]) > 0
        assert int(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) > 0
    # the callable exists and names the worker as the scale-out test expects
    assert (
        airflow_env.worker_hostname.__module__ + ".worker_hostname"
        == local["AIRFLOW__CORE__HOSTNAME_CALLABLE"]
    )
    # scalable: `docker compose up -d --scale airflow-worker=N`
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "hostname" not in worker


def test_the_redis_broker_is_the_one_the_workers_use(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert "6379" in [str(p) for p in redis.get("expose", [])]
    for name in AIRFLOW:
        assert services[name]["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith(
            "redis://:@redis:6379/"
        )


def test_long_running_services_have_health_checks(services):
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no health check"
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name


def test_no_secret_is_committed(services):
    secretish = re.compile(r"PASSWORD|PASS$|SECRET|_KEY$|^AIRFLOW_CONN_LNOB_ALERT")
    for name, svc in services.items():
        for var, value in (svc.get("environment") or {}).items():
            value = str(value)
            credentials = re.search(r"://[^/@:]*:([^@]*)@", value)
            if secretish.search(var):
                assert value.startswith("${"), f"{name}: {var} is committed, not read from .env"
            if credentials and credentials.group(1):  # redis://:@redis: no password, internal network only
                assert credentials.group(1).startswith("${"), f"{name}: {var} holds a committed password"
    assert re.search(r"^\.env$", (ROOT / ".gitignore").read_text(), re.M)
    example = (ROOT / ".env.example").read_text()
    for var in set(re.findall(r"\$\{([A-Z_]+):\?", COMPOSE.read_text())):
        assert re.search(rf"^{var}=", example, re.M), f".env.example does not list {var}"


def test_superset_reads_the_warehouse_as_lnob_bi_reader(services):
    from lnob.platform import roles

    setup = services["superset-setup"]
    assert setup["entrypoint"] == ["lnob"] and setup["command"] == ["superset", "setup"]
    env = setup["environment"]
    assert env["LNOB_BI_READER_PASSWORD"] == "${LNOB_BI_READER_PASSWORD:?set in .env}"
    assert env["LNOB_SUPERSET_URL"] == "http://superset:8088"
    assert env["LNOB_SUPERSET_DATABASE_HOST"] == "warehouse"
    assert setup["depends_on"]["superset"]["condition"] == "service_healthy"
    assert setup["depends_on"]["warehouse-init"]["condition"] == "service_completed_successfully"
    assert (
        services["superset"]["depends_on"]["superset-init"]["condition"] == "service_completed_successfully"
    )
    # the roles are created before anyone reads, and with the same reader password everywhere
    init = services["warehouse-init"]
    assert init["entrypoint"] == ["lnob"] and init["command"] == ["warehouse", "roles"]
    assert init["environment"]["LNOB_BI_READER_PASSWORD"] == env["LNOB_BI_READER_PASSWORD"]
    for name in AIRFLOW:
        assert services[name]["environment"]["LNOB_BI_READER_PASSWORD"] == env["LNOB_BI_READER_PASSWORD"]
    assert roles.READER == "lnob_bi_reader"
    # the assets superset-setup imports are in the lnob image
    assert re.search(
        r"^COPY .*bi/superset/assets /opt/lnob/bi/superset/assets$", (ROOT / "Dockerfile").read_text(), re.M
    )


def test_production_superset_is_the_one_the_tests_run(services):
    """Same pins (requirements-superset.txt, what lnob.publish.superset.ensure_venv installs for the tests
    and `make superset`), same configuration file, the image tagged with the pinned version."""
    pinned = re.search(
        r"^apache[-_]superset==(\S+)$",
        (ROOT / "requirements-superset.txt").read_text(),
        re.M,
    ).group(1)
    dockerfile = ROOT / "bi" / "superset" / "Dockerfile"
    text = dockerfile.read_text()
    assert "pip install --no-cache-dir -r /opt/superset/requirements-superset.txt" in text
    assert "COPY requirements-superset.txt" in text and "COPY bi/superset/superset_config.py" in text
    assert re.search(r"^FROM python:3\.11", text, re.M)
    for name in ("superset", "superset-init"):
        svc = services[name]
        assert svc["image"] == f"lnob/superset:{pinned}", name
        assert svc["build"] == {"context": ".", "dockerfile": "bi/superset/Dockerfile"}, name
        env = svc["environment"]
        assert env["SUPERSET_SECRET_KEY"] == "${SUPERSET_SECRET_KEY:?set in .env}"
        assert "@superset-db/superset" in env["SUPERSET_METADATA_DB_URI"]
    # the configuration both read: secrets and the metadata database from the environment only
    config = (ROOT / "bi" / "superset" / "superset_config.py").read_text()
    assert (
        'os.environ["SUPERSET_SECRET_KEY"]' in config and 'os.environ["SUPERSET_METADATA_DB_URI"]' in config
    )
    assert services["superset-db"]["image"].startswith("postgres:")


def test_the_superset_bundle_holds_the_reader_and_never_a_password():
    import io
    import zipfile

    from lnob.publish import superset

    target = superset.Target(
        url="http://superset:8088",
        admin_user="admin",
        admin_password="admin-secret",
        host="warehouse",
        port=5432,
        dbname="lnob",
        reader_password="reader-secret",
    )
    with zipfile.ZipFile(io.BytesIO(superset.bundle(target))) as zf:
        names = zf.namelist()
        texts = {n: zf.read(n).decode() for n in names}
    assert "lnob_superset/metadata.yaml" in names
    database = yaml.safe_load(texts["lnob_superset/databases/LNOB_marts.yaml"])
    assert database["sqlalchemy_uri"] == "postgresql+psycopg2://lnob_bi_reader:XXXXXXXXXX@warehouse:5432/lnob"
    assert not any("reader-secret" in t or "admin-secret" in t for t in texts.values())
    charts = {yaml.safe_load(t)["slice_name"] for n, t in texts.items() if "/charts/" in n}
    assert charts == {"LNOB gap by group and country", "Evidence map", "Suppression share"}
    datasets = {yaml.safe_load(t)["table_name"] for n, t in texts.items() if "/datasets/" in n}
    assert datasets == {"bi_lnob_gap", "bi_evidence_map", "bi_sdg_observation"}  # the labelled views
    (dashboard,) = [yaml.safe_load(t) for n, t in texts.items() if "/dashboards/" in n]
    placed = {
        v["meta"]["uuid"]
        for v in dashboard["position"].values()
        if isinstance(v, dict) and v.get("type") == "CHART"
    }
    assert placed == {yaml.safe_load(t)["uuid"] for n, t in texts.items() if "/charts/" in n}


def test_superset_setup_names_what_is_missing(monkeypatch):
    from lnob.publish import superset

    monkeypatch.delenv("LNOB_SUPERSET_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("LNOB_WAREHOUSE_URL", raising=False)
    with pytest.raises(superset.SupersetError, match="LNOB_SUPERSET_ADMIN_PASSWORD, LNOB_WAREHOUSE_URL"):
        superset.Target.from_env()
