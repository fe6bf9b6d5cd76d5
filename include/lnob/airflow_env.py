"""The project-local Airflow: its home, its DAG folder, and the warehouse connection.

Airflow reads everything from the environment here, so ``airflow`` run through ``lnob airflow``
(or ``make demo``/``make airflow``) needs no config file edits: ``AIRFLOW_HOME`` is ``.lnob/airflow``
(git-ignored), the metadata database is created there on first use, and the warehouse is the
connection ``lnob_warehouse`` given as ``AIRFLOW_CONN_LNOB_WAREHOUSE`` (never written to disk).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lnob.config import Settings, settings
from lnob.warehouse import ConnInfo


def connection_json(warehouse_url: str) -> str:
    info = ConnInfo.from_url(warehouse_url)
    return json.dumps({"conn_type": "postgres", "host": info.host, "port": info.port,
                       "login": info.user, "password": info.password, "schema": info.dbname})


def environment(warehouse_url: str, cfg: Settings | None = None) -> dict[str, str]:
    cfg = cfg or settings()
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(cfg.airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(cfg.project_dir / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DEFAULT_TIMEZONE="utc",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="True",
        AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK="False",
        AIRFLOW_CONN_LNOB_WAREHOUSE=connection_json(warehouse_url),
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


def ensure_metadata_db(env: dict[str, str], cfg: Settings | None = None) -> None:
    """Create Airflow's metadata database on first use (SQLite in AIRFLOW_HOME)."""
    cfg = cfg or settings()
    cfg.airflow_home.mkdir(parents=True, exist_ok=True)
    marker = cfg.airflow_home / ".db-migrated"
    if marker.exists() and (cfg.airflow_home / "airflow.db").exists():
        return
    subprocess.run([airflow_bin(), "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    marker.write_text("ok\n")


def run_airflow(args: list[str], warehouse_url: str, cfg: Settings | None = None) -> int:
    env = environment(warehouse_url, cfg)
    ensure_metadata_db(env, cfg)
    return subprocess.run([airflow_bin(), *args], env=env).returncode
