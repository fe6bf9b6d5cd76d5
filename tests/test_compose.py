"""docker-compose.yml is for production; no engine runs here, so check it against the Compose
Specification's JSON schema (vendored in tests/reference/compose, so the check runs on any clean
clone) and check what the README promises: every service it names, pinned images, Celery workers
on Redis, health checks, secrets from the environment, Metabase reading as lnob_bi_reader."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "reference" / "compose" / "compose-spec.json"
COMPOSE = ROOT / "docker-compose.yml"
AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker"]
LONG_RUNNING = ["airflow-db", "redis", "warehouse", *AIRFLOW, "metabase-db", "metabase"]
ONE_SHOT = ["airflow-init", "warehouse-init", "metabase-setup"]


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
    named = set(re.findall(r"`([a-z][a-z0-9-]+)`", section)) & (set(LONG_RUNNING) | set(ONE_SHOT) | {"flower"})
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
        for secret in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__CORE__FERNET_KEY"):
            assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", env[secret]), f"{name}: {secret} must come from .env"
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
    lnob.airflow_env.celery_environment: compose sets every one of those settings, under the
    same names, for every Airflow service, and the worker-facing values agree."""
    from lnob import airflow_env

    local = airflow_env.celery_environment(
        "postgresql://lnob:x@127.0.0.1:5432/lnob", "postgresql+psycopg2://airflow:x@127.0.0.1:5432/airflow",
        "redis://127.0.0.1:6379/0", "http://127.0.0.1:8080", jwt_secret="x")
    base = airflow_env.environment("postgresql://lnob:x@127.0.0.1:5432/lnob")
    celery_names = {k for k in local if k not in base or local[k] != base[k]} - {"AIRFLOW_CONN_LNOB_WAREHOUSE"}
    assert {"AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "AIRFLOW__CORE__HOSTNAME_CALLABLE"} <= celery_names
    for name in AIRFLOW:
        env = services[name]["environment"]
        missing = celery_names - set(env)
        assert not missing, f"{name} lacks {sorted(missing)}"
        for var in ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__HOSTNAME_CALLABLE",
                    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER"):
            assert env[var] == local[var], (name, var)
        assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/")
        # a dead worker's task is failed after the heartbeat timeout and retried elsewhere
        assert int(env["LNOB_TASK_RETRIES"]) >= 1 and int(env["LNOB_TASK_RETRY_DELAY"]) > 0
        assert int(env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"]) > 0
    # the callable exists and names the worker as the scale-out test expects
    assert airflow_env.worker_hostname.__module__ + ".worker_hostname" == local["AIRFLOW__CORE__HOSTNAME_CALLABLE"]
    # scalable: `docker compose up -d --scale airflow-worker=N`
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "hostname" not in worker


def test_the_redis_broker_is_the_one_the_workers_use(services):
    redis = services["redis"]
    assert redis["image"].startswith("redis:")
    assert "6379" in [str(p) for p in redis.get("expose", [])]
    for name in AIRFLOW:
        assert services[name]["environment"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:@redis:6379/")


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


def test_metabase_reads_the_warehouse_as_lnob_bi_reader(services):
    from lnob import roles

    setup = services["metabase-setup"]
    assert setup["entrypoint"] == ["lnob"] and setup["command"] == ["metabase", "setup"]
    env = setup["environment"]
    assert env["LNOB_BI_READER_PASSWORD"] == "${LNOB_BI_READER_PASSWORD:?set in .env}"
    assert env["LNOB_METABASE_URL"] == "http://metabase:3000"
    assert env["LNOB_METABASE_DATABASE_HOST"] == "warehouse"
    assert setup["depends_on"]["metabase"]["condition"] == "service_healthy"
    assert setup["depends_on"]["warehouse-init"]["condition"] == "service_completed_successfully"
    # the roles are created before anyone reads, and with the same reader password everywhere
    init = services["warehouse-init"]
    assert init["entrypoint"] == ["lnob"] and init["command"] == ["warehouse", "roles"]
    assert init["environment"]["LNOB_BI_READER_PASSWORD"] == env["LNOB_BI_READER_PASSWORD"]
    for name in AIRFLOW:
        assert services[name]["environment"]["LNOB_BI_READER_PASSWORD"] == env["LNOB_BI_READER_PASSWORD"]
    assert roles.READER == "lnob_bi_reader"


class _FakeMetabase(BaseHTTPRequestHandler):
    """Just enough of Metabase's API: session properties, setup, login, databases."""

    state: dict = {}

    def log_message(self, *args):  # quiet
        pass

    def _reply(self, code: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def _authorised(self) -> bool:
        return self.headers.get("X-Metabase-Session") == "sess-1"

    def do_GET(self):
        s = self.state
        if self.path == "/api/session/properties":
            self._reply(200, {"setup-token": "tok-1", "has-user-setup": bool(s.get("admin"))})
        elif self.path == "/api/database" and self._authorised():
            self._reply(200, {"data": list(s["databases"].values())})
        else:
            self._reply(401, "Unauthenticated")

    def do_POST(self):
        s, body = self.state, self._body()
        s["calls"].append(("POST", self.path, body))
        if self.path == "/api/setup" and body.get("token") == "tok-1" and not s.get("admin"):
            s["admin"] = (body["user"]["email"], body["user"]["password"])
            self._reply(200, {"id": "sess-1"})
        elif self.path == "/api/session" and s.get("admin") == (body["username"], body["password"]):
            self._reply(200, {"id": "sess-1"})
        elif self.path == "/api/database" and self._authorised():
            db = {**body, "id": len(s["databases"]) + 1}
            s["databases"][db["id"]] = db
            self._reply(200, db)
        else:
            self._reply(400, {"message": "bad request"})

    def do_PUT(self):
        s, body = self.state, self._body()
        s["calls"].append(("PUT", self.path, body))
        db_id = int(self.path.rsplit("/", 1)[-1])
        if self._authorised() and db_id in s["databases"]:
            s["databases"][db_id].update(body)
            self._reply(200, s["databases"][db_id])
        else:
            self._reply(404, {"message": "not found"})


def test_metabase_setup_connects_as_lnob_bi_reader_and_is_idempotent(monkeypatch):
    from lnob import metabase

    _FakeMetabase.state = {"databases": {}, "calls": []}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeMetabase)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("LNOB_WAREHOUSE_URL", "postgresql://lnob:pipeline-secret@db.internal:5433/lnob")
        monkeypatch.setenv("LNOB_BI_READER_PASSWORD", "reader-secret")
        monkeypatch.setenv("LNOB_METABASE_URL", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("LNOB_METABASE_ADMIN_EMAIL", "admin@lnob.example")
        monkeypatch.setenv("LNOB_METABASE_ADMIN_PASSWORD", "admin-secret-1")
        monkeypatch.setenv("LNOB_METABASE_DATABASE_HOST", "warehouse")
        monkeypatch.delenv("LNOB_METABASE_DATABASE_PORT", raising=False)

        first = metabase.setup()
        assert "created the Metabase admin" in first[0] and "added the data source" in first[1]
        (db,) = _FakeMetabase.state["databases"].values()
        assert db["engine"] == "postgres" and db["name"] == "LNOB marts"
        details = db["details"]
        assert (details["host"], details["port"], details["dbname"]) == ("warehouse", 5433, "lnob")
        assert (details["user"], details["password"]) == ("lnob_bi_reader", "reader-secret")
        assert details["schema-filters-type"] == "inclusion" and details["schema-filters-patterns"] == "marts"
        assert "pipeline-secret" not in json.dumps(_FakeMetabase.state["calls"])  # never the pipeline's user

        # again, after the reader's password was rotated: logs in, updates the one data source
        monkeypatch.setenv("LNOB_BI_READER_PASSWORD", "rotated-secret")
        second = metabase.setup()
        assert "logged in as admin@lnob.example" in second[0] and "updated the data source" in second[1]
        (db,) = _FakeMetabase.state["databases"].values()
        assert db["details"]["password"] == "rotated-secret"
    finally:
        server.shutdown()


def test_metabase_setup_names_what_is_missing(monkeypatch):
    from lnob import metabase

    monkeypatch.delenv("LNOB_METABASE_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("LNOB_METABASE_ADMIN_EMAIL", "admin@lnob.example")
    monkeypatch.delenv("LNOB_WAREHOUSE_URL", raising=False)
    with pytest.raises(metabase.MetabaseError, match="LNOB_METABASE_ADMIN_PASSWORD, LNOB_WAREHOUSE_URL"):
        metabase.Target.from_env()
