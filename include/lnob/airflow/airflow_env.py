"""The project-local Airflow: its home, its DAG folder, and the warehouse connection.

Airflow reads everything from the environment here, so ``airflow`` run through ``lnob airflow``
(or ``make demo``/``make airflow``) needs no config file edits: ``AIRFLOW_HOME`` is ``.lnob/airflow``
(git-ignored), the metadata database is created there on first use, and the warehouse is the
connection ``lnob_warehouse`` given as ``AIRFLOW_CONN_LNOB_WAREHOUSE`` (never written to disk).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from lnob.platform.config import Settings, settings
from lnob.platform.warehouse import ConnInfo


def connection_json(warehouse_url: str) -> str:
    info = ConnInfo.from_url(warehouse_url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": info.host,
            "port": info.port,
            "login": info.user,
            "password": info.password,
            "schema": info.dbname,
        }
    )


#: The port of the local Airflow UI and API server (``make airflow PORT=8090`` sets it).
PORT_VAR = "LNOB_AIRFLOW_PORT"
DEFAULT_PORT = 8080


def api_port() -> int:
    """The Airflow api-server's port: ``LNOB_AIRFLOW_PORT``, else ``AIRFLOW__API__PORT``, else 8080."""
    from lnob.platform.config import ConfigurationError

    value = (os.environ.get(PORT_VAR) or os.environ.get("AIRFLOW__API__PORT") or str(DEFAULT_PORT)).strip()
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ConfigurationError(f"{PORT_VAR}={value!r}: expected a port number (1-65535)")
    return int(value)


def api_base_url() -> str:
    """Where the UI is and where tasks reach the Task Execution API: ``AIRFLOW__API__BASE_URL`` when
    set (e.g. behind a proxy), else ``http://localhost:<api_port()>``."""
    return (os.environ.get("AIRFLOW__API__BASE_URL") or f"http://localhost:{api_port()}").rstrip("/")


def environment(warehouse_url: str, cfg: Settings | None = None) -> dict[str, str]:
    """The environment of every local Airflow command. The api-server's port, its base URL and
    the execution API URL the tasks call all follow from one port (:func:`api_port`): setting
    only ``AIRFLOW__API__PORT`` used to leave the tasks calling port 8080 (``Connection refused``)."""
    cfg = cfg or settings()
    env = dict(os.environ)
    base = api_base_url()
    env.update(
        AIRFLOW_HOME=str(cfg.airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(cfg.project_dir / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DEFAULT_TIMEZONE="utc",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW_CONN_LNOB_WAREHOUSE=connection_json(warehouse_url),
        AIRFLOW__API__PORT=str(api_port()),
        AIRFLOW__API__BASE_URL=base,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base}/execution/",
        LNOB_PROJECT_DIR=str(cfg.project_dir),
        GX_ANALYTICS_ENABLED="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        NO_COLOR="1",
        # Airflow's own services (standalone) start `airflow` and `dbt` by name.
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def ensure_metadata_db(env: dict[str, str], cfg: Settings | None = None, output=None) -> None:
    """Create Airflow's metadata database on first use (SQLite in AIRFLOW_HOME); what Airflow
    prints goes to ``output`` (a file) when given."""
    cfg = cfg or settings()
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    marker = cfg.airflow_home / ".db-migrated"
    if marker.exists() and (cfg.airflow_home / "airflow.db").exists():
        return
    subprocess.run(
        [airflow_bin(), "db", "migrate"],
        env=env,
        check=True,
        stdout=output or subprocess.DEVNULL,
        stderr=output,
    )
    marker.write_text("ok\n")


def run_airflow(args: list[str], warehouse_url: str, cfg: Settings | None = None, output=None) -> int:
    """Run ``airflow <args>``; with ``output`` (an open file) everything it prints goes there."""
    env = environment(warehouse_url, cfg)
    ensure_metadata_db(env, cfg, output)
    return subprocess.run(
        [airflow_bin(), *args], env=env, stdout=output, stderr=subprocess.STDOUT if output else None
    ).returncode


#: The name a Celery worker reports as its task instances' hostname (``[core] hostname_callable``).
WORKER_NAME_VAR = "LNOB_WORKER_NAME"


def worker_hostname() -> str:
    """The hostname Airflow records on a task instance (``AIRFLOW__CORE__HOSTNAME_CALLABLE=
    lnob.airflow.airflow_env.worker_hostname``): ``$LNOB_WORKER_NAME`` when set, so two Celery workers on
    one host are told apart, the machine's FQDN otherwise (Airflow's default)."""
    name = os.environ.get(WORKER_NAME_VAR, "").strip()
    if name:
        return name
    import socket

    return socket.getfqdn()


def celery_environment(
    warehouse_url: str,
    metadata_url: str,
    broker_url: str,
    api_base_url: str,
    jwt_secret: str,
    cfg: Settings | None = None,
) -> dict[str, str]:
    """The environment of every Airflow component on the CeleryExecutor (scheduler, api-server,
    dag-processor, ``airflow celery worker``): the same names docker-compose.yml sets.

    - ``metadata_url``: Airflow's metadata database, a PostgreSQL SQLAlchemy URL
      (``postgresql+psycopg2://...``; Airflow refuses SQLite with a distributed executor); the
      Celery result backend is the same database (``db+`` prefix), as Airflow recommends.
    - ``broker_url``: the Redis broker (``redis://host:port/0``).
    - ``api_base_url``: the api-server; workers reach the Task Execution API at
      ``<api_base_url>/execution/`` (``[core] execution_api_server_url``).
    - ``jwt_secret``: shared by the scheduler (signs each task's token) and the api-server
      (checks it); without it each process would make up its own.
    """
    env = environment(warehouse_url, cfg)
    base = api_base_url.rstrip("/")
    env.update(
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata_url,
        AIRFLOW__CELERY__BROKER_URL=broker_url,
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + metadata_url,
        AIRFLOW__API__BASE_URL=base,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET=jwt_secret,
        AIRFLOW__CORE__HOSTNAME_CALLABLE="lnob.airflow.airflow_env.worker_hostname",
        # a worker takes a task only when it has a free slot: none waits behind a long load on
        # one worker while the other is idle
        AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER="1",
    )
    return env


_DAG_TEST = re.compile(r"\[DAG TEST\] (starting task_id|end task task_id)=(\S+) map_index=(-?\d+)")
_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT[\d:.]+Z) \[(?P<level>\w+)\s*\] (?P<event>.*?)"
    r"(?: \[(?P<logger>[A-Za-z_][\w.]*)\](?: \w+=.*)?)?$"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def file_task_logs(
    output: Path, run_id: str, dag_id: str = "lnob_nightly", cfg: Settings | None = None
) -> list[Path]:
    """File each task's lines of an ``airflow dags test`` output as that task instance's log.

    ``dags test`` runs the tasks inside the command and prints their logs there, so the Airflow UI
    would show an empty log for every task of a `make demo` night. The tasks run one after the
    other, between ``[DAG TEST] starting`` and ``[DAG TEST] end task`` lines: those lines are
    written where the UI reads a task's log (``[logging] log_filename_template``, first try), as
    the JSON lines a worker writes. Returns the files written."""
    base = Path(
        os.environ.get("AIRFLOW__LOGGING__BASE_LOG_FOLDER") or (cfg or settings()).airflow_home / "logs"
    )
    written: list[Path] = []
    current: list[str] | None = None
    level = "info"
    with open(output, errors="replace") as fh:
        for raw in fh:
            line = _ANSI.sub("", raw.rstrip("\n"))
            found = _DAG_TEST.search(line)
            if found and found.group(1).startswith("starting"):
                current, level = [], "info"
                continue
            if found and current is not None:
                task, index = found.group(2), int(found.group(3))
                folder = base / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task}"
                path = (folder / f"map_index={index}" if index >= 0 else folder) / "attempt=1.log"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(entry + "\n" for entry in current))
                written.append(path)
                current = None
                continue
            if current is None or not line.strip():
                continue
            m = _LINE.match(line)
            if m:
                level = m.group("level").lower()
                if "[DAG TEST]" in line or (m.group("logger") or "").startswith("airflow.api_fastapi"):
                    continue  # the command's and the in-process API server's lines, not the task's
                entry = {
                    "timestamp": m.group("ts"),
                    "level": level,
                    "event": m.group("event").rstrip(),
                    "logger": m.group("logger") or "task",
                }
            else:  # a traceback or a line a library printed
                entry = {"level": level, "event": line, "logger": "task"}
            current.append(json.dumps(entry))
    return written
