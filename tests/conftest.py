"""Shared fixtures: every test session gets its own embedded PostgreSQL, landing folder and
Airflow home under a temporary directory, so tests never touch the developer's demo state."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
_SESSION = Path(tempfile.mkdtemp(prefix="lnob-tests-"))


def free_port() -> int:
    """A port nobody listens on now, so a stale server elsewhere cannot break the suite."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Set before anything imports airflow or lnob settings.
os.environ.update(
    LNOB_PROJECT_DIR=str(PROJECT),
    LNOB_HOME=str(_SESSION / "home"),
    LNOB_LANDING_DIR=str(_SESSION / "landing"),
    LNOB_QUARANTINE_DIR=str(_SESSION / "quarantine"),
    LNOB_EXPORTS_DIR=str(_SESSION / "exports"),
    LNOB_REPORTS_DIR=str(_SESSION / "reports"),
    LNOB_WAREHOUSE_PORT=os.environ.get("LNOB_TEST_PORT") or str(free_port()),
    LNOB_PSEUDONYM_KEY="test-only-pseudonym-key",
    # A copy of the GX context: tests that change a contract or run a night must never rewrite
    # the committed suites (and a later test must not see another's rewrite).
    LNOB_GX_PROJECT_DIR=str(_SESSION / "expectations"),
    # A copy of the dbt project, likewise: a night writes the registry's seeds and staging models
    # into it (lnob.registry.dbt_files), and a test's own registry must not rewrite committed files.
    LNOB_DBT_PROJECT_DIR=str(_SESSION / "dbt_project"),
    AIRFLOW_HOME=str(_SESSION / "home" / "airflow"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    GX_ANALYTICS_ENABLED="false",
    DBT_SEND_ANONYMOUS_USAGE_STATS="false",
)
os.environ.pop("LNOB_WAREHOUSE_URL", None)
shutil.copytree(
    PROJECT / "expectations",
    _SESSION / "expectations",
    ignore=shutil.ignore_patterns("data_docs", "validations"),
)
shutil.copytree(
    PROJECT / "dbt_project",
    _SESSION / "dbt_project",
    ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"),
)

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION


@pytest.fixture(scope="session")
def warehouse_url():
    """The embedded PostgreSQL of this test session, started once and stopped at the end."""
    from lnob import warehouse

    url = warehouse.start()
    yield url
    warehouse.stop()


@pytest.fixture
def db(warehouse_url):
    import psycopg2

    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    yield conn
    conn.close()


def lnob(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the `lnob` command line as a user would."""
    return subprocess.run(
        [str(BIN / "lnob"), *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
    )


#: Every schema the project writes in the warehouse.
PROJECT_SCHEMAS = "raw, lnob_meta, staging, intermediate, reference, marts, marts_audit, marts_previous"


def clean_warehouse(warehouse_url: str, landing: bool = False) -> None:
    """Drop every schema the project writes (and, with ``landing``, the landing folder): a test
    module starts from an empty warehouse."""
    import psycopg2
    from lnob.config import settings

    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"drop schema if exists {PROJECT_SCHEMAS} cascade")
    conn.close()
    if landing:
        shutil.rmtree(settings().landing_dir, ignore_errors=True)


def pytest_sessionfinish(session, exitstatus):
    from lnob import warehouse

    try:
        warehouse.stop()
    except Exception:  # noqa: BLE001 - best effort at the end of the session
        pass
    shutil.rmtree(_SESSION, ignore_errors=True)


def csv_data_rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ",") -> int:
    """How many data rows a delivered CSV holds (what a loader must load, no more, no less)."""
    import csv

    with open(path, encoding=encoding, newline="") as fh:
        return sum(1 for _ in csv.reader(fh, delimiter=delimiter)) - 1


def blocking_registry(tmp_path: Path, source_id: str) -> Path:
    """A copy of the registry in which ``source_id`` has ``gate_policy: block`` (point
    ``LNOB_REGISTRY`` at it): its problems stop the night instead of holding it back."""
    from lnob.config import settings

    text = settings().registry_path.read_text()
    start = text.index(f"  - id: {source_id}\n")
    end = text.index("    gate_policy: quarantine", start)
    path = tmp_path / "registry.yml"
    path.write_text(text[:end] + "    gate_policy: block" + text[end + len("    gate_policy: quarantine") :])
    return path
