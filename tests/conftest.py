"""Shared fixtures: every test session gets its own embedded PostgreSQL, landing folder and
Airflow home under a temporary directory, so tests never touch the developer's demo state.

One night is published once per session (:func:`published_night`) and snapshotted; every module
that reads it restores the snapshot first (a template-database copy and the night's folders), so a
module that changes the warehouse never changes what the next one reads. Unit tests run first.
Helpers the modules import live in tests/helpers.py."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import PROJECT, free_port, lnob

_SESSION = Path(tempfile.mkdtemp(prefix="lnob-tests-"))
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, ... under pytest-xdist


def _test_port() -> str:
    """LNOB_TEST_PORT pins the session's PostgreSQL port (each xdist worker one above the last)."""
    pinned = os.environ.get("LNOB_TEST_PORT")
    if not pinned:
        return str(free_port())
    return str(int(pinned) + int((_WORKER or "gw0")[2:]))


# Set before anything imports airflow or lnob settings.
os.environ.update(
    LNOB_PROJECT_DIR=str(PROJECT),
    LNOB_HOME=str(_SESSION / "home"),
    LNOB_LANDING_DIR=str(_SESSION / "landing"),
    LNOB_QUARANTINE_DIR=str(_SESSION / "quarantine"),
    LNOB_EXPORTS_DIR=str(_SESSION / "exports"),
    LNOB_REPORTS_DIR=str(_SESSION / "reports"),
    LNOB_WAREHOUSE_PORT=_test_port(),
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
    # dbt's file log without its debug lines (every statement): dozens of nights write it, no test reads it
    LNOB_DBT_FILE_LOG_LEVEL="info",
)
# Superset's own virtualenv (tests/test_bi.py) is kept per user, not per clone: a fresh clone
# reuses it while requirements-superset.txt is unchanged (lnob.publish.superset.ensure_venv checks its hash).
os.environ.setdefault(
    "LNOB_SUPERSET_VENV",
    str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lnob" / "superset-venv"),
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


#: The modules that read the session's published night (fixtures published_night, rerun_night):
#: under pytest-xdist they are one unit of work, so one worker builds the night once.
NIGHT_MODULES = frozenset(
    {"test_airflow_ui.py", "test_bi.py", "test_exports.py", "test_nightly_e2e.py", "test_report.py"}
)
NIGHT_GROUP = "published_night"


def _scope(nodeid: str) -> str:
    """The unit of work of a test under pytest-xdist: its module, or the published night's group."""
    file = nodeid.split("::", 1)[0]
    return NIGHT_GROUP if Path(file).name in NIGHT_MODULES else file


def pytest_collection_modifyitems(session, config, items):
    """Unit tests first (a broken rule shows in seconds), then the rest in file order; the slow ones
    (a 400k-row load, the Celery night) last. The sort is stable, so a module's tests keep their
    order and its module fixtures are set up once.

    On a pytest-xdist worker (`make test`: `-n 2 --dist loadscope`, :func:`pytest_xdist_make_scheduler`)
    the units of work are ordered instead, longest first, so the two workers finish close together:
    the published night's modules, then modules with a slow test, then the rest (unit tests still
    first within each module)."""

    def rank(item) -> int:
        if item.get_closest_marker("unit"):
            return 0
        return 2 if item.get_closest_marker("slow") else 1

    items.sort(key=rank)
    for item in items:  # a module that reads the night must be in NIGHT_MODULES (one worker builds it)
        if "_published_night_once" in item.fixturenames:
            assert _scope(item.nodeid) == NIGHT_GROUP, f"add {item.path.name} to conftest.NIGHT_MODULES"
    if not hasattr(config, "workerinput"):
        return
    slow = {_scope(item.nodeid) for item in items if item.get_closest_marker("slow")}

    def weight(item) -> int:
        scope = _scope(item.nodeid)
        return 0 if scope == NIGHT_GROUP else 1 if scope in slow else 2

    items.sort(key=weight)


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown without it
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadscope` with the published night's modules as one scope (pytest-xdist's own
    `loadgroup` cannot be used: pytest 9 ignores the node-id suffix it groups by), in the order
    the workers collected them (:func:`pytest_collection_modifyitems`)."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class NightScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _scope(nodeid)

    config.option.loadscopereorder = False
    return NightScope(config, log)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION


@pytest.fixture(scope="session")
def warehouse_url():
    """The embedded PostgreSQL of this test session, started once and stopped at the end."""
    from lnob.platform import warehouse

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


# --- the session's published night ----------------------------------------------------------------

#: The night every read-only test reads: the sample of `lnob demo` (4,000 persons, seed 42).
NIGHT = "2026-11-21"
NIGHT_PERSONS = 4000
#: Which snapshot the warehouse and the night's folders hold now, when nothing changed them since
#: it was taken or restored (a module fixture that hands one out restores it otherwise).
_STATE: dict[str, str | None] = {"fresh": None}


@dataclass(frozen=True)
class PublishedNight:
    """One night through `lnob demo` (`airflow dags test lnob_nightly`), published and exported."""

    night: str
    run: object  # the demo's subprocess.CompletedProcess: its terminal output
    seconds: float
    summary: dict
    marts: tuple[str, ...]


@dataclass(frozen=True)
class RerunNight:
    """The published night run again through the DAG (a new run of the same night, nothing new
    delivered): what was published and reported just before and just after it."""

    run: object  # subprocess.CompletedProcess of `lnob airflow dags test lnob_nightly NIGHT`
    first_summary: dict  # the night's summary before the re-run (the first run's)
    checksum_before: str  # publish.schema_checksum of marts before the re-run
    checksum_after: str
    first_page_before: bytes  # the first run's report page before the re-run
    first_page_after: bytes


def _night_folders() -> list[Path]:
    """The folders a night writes besides the warehouse (Airflow's metadata and logs only add
    runs, and the dbt target is a cache: neither is restored)."""
    from lnob.platform.config import settings

    cfg = settings()
    return [cfg.landing_dir, cfg.quarantine_dir, cfg.exports_dir, cfg.reports_dir, cfg.runs_dir]


def _admin(warehouse_url: str):
    import psycopg2
    from lnob.platform import warehouse

    info = warehouse.ConnInfo.from_url(warehouse_url)
    conn = psycopg2.connect(
        host=info.host, port=info.port, user=info.user, password=info.password, dbname="postgres"
    )
    conn.autocommit = True
    return conn, info.dbname


def _snapshot(warehouse_url: str, name: str) -> None:
    """The warehouse as a template database ``lnob_<name>`` (PostgreSQL copies its files: seconds,
    not a night) and the night's folders beside it."""
    conn, dbname = _admin(warehouse_url)
    with conn.cursor() as cur:
        cur.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where datname = %s and pid <> pg_backend_pid()",
            (dbname,),
        )
        cur.execute(f'drop database if exists "lnob_{name}"')
        cur.execute(f'create database "lnob_{name}" template "{dbname}"')
    conn.close()
    keep = _SESSION / "snapshots" / name
    shutil.rmtree(keep, ignore_errors=True)
    for folder in _night_folders():
        if folder.exists():
            shutil.copytree(folder, keep / folder.name, symlinks=True)
    _STATE["fresh"] = name


def restore_snapshot(warehouse_url: str, name: str) -> None:
    """The warehouse and the night's folders exactly as they were when snapshot ``name`` was taken."""
    from lnob.platform import roles, warehouse

    conn, dbname = _admin(warehouse_url)
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{dbname}" with (force)')
        cur.execute(f'create database "{dbname}" template "lnob_{name}"')
    conn.close()
    with warehouse.connect(warehouse_url, autocommit=True) as wconn:
        roles.ensure(wconn)  # the database's own grants (connect, create) are not in a template copy
    keep = _SESSION / "snapshots" / name
    for folder in _night_folders():
        shutil.rmtree(folder, ignore_errors=True)
        if (keep / folder.name).exists():
            shutil.copytree(keep / folder.name, folder, symlinks=True)


def _hand_out(warehouse_url: str, name: str) -> None:
    """Restore snapshot ``name`` unless it was just taken (nothing can have changed it yet)."""
    if _STATE["fresh"] != name:
        restore_snapshot(warehouse_url, name)
    _STATE["fresh"] = None


@pytest.fixture(scope="session")
def _published_night_once(warehouse_url) -> PublishedNight:
    from helpers import clean_warehouse
    from lnob import pipeline
    from lnob.publish import assets

    clean_warehouse(warehouse_url, landing=True)
    started = time.monotonic()
    run = lnob("demo", "--persons", str(NIGHT_PERSONS), "--date", NIGHT, timeout=1500)
    seconds = time.monotonic() - started
    summary = pipeline.latest_summary()
    assert summary and summary["night"] == NIGHT, (run.stdout[-3000:], run.stderr[-3000:])
    _snapshot(warehouse_url, "published_night")
    return PublishedNight(NIGHT, run, seconds, summary, assets.published_marts())


@pytest.fixture(scope="module")
def published_night(_published_night_once, warehouse_url) -> PublishedNight:
    """The session's published night, restored for this module: built once per session (the first
    module that asks), then every module that asks gets the warehouse, landing, quarantine,
    exports and reports exactly as that night left them, whatever ran in between. A module may
    change them (run another night on top, spoil a mart); the next module gets the night back."""
    _hand_out(warehouse_url, "published_night")
    return _published_night_once


@pytest.fixture(scope="session")
def _rerun_once(_published_night_once, warehouse_url) -> RerunNight:
    import psycopg2
    from lnob.platform.config import settings
    from lnob.publish import swap as publish

    _hand_out(warehouse_url, "published_night")
    reports = settings().reports_dir
    first_summary = json.loads((reports / NIGHT / "summary.json").read_text())
    first_page = Path(first_summary["report_html"])
    page_before = first_page.read_bytes()
    with psycopg2.connect(warehouse_url) as conn:
        before = publish.schema_checksum(conn)
    conn.close()
    run = lnob("airflow", "dags", "test", "lnob_nightly", NIGHT, timeout=1200, env={"LNOB_TASK_RETRIES": "0"})
    with psycopg2.connect(warehouse_url) as conn:
        after = publish.schema_checksum(conn)
    conn.close()
    page_after = first_page.read_bytes()
    _snapshot(warehouse_url, "rerun_night")
    return RerunNight(run, first_summary, before, after, page_before, page_after)


@pytest.fixture(scope="module")
def rerun_night(_rerun_once, warehouse_url) -> RerunNight:
    """The published night run a second time (`airflow dags test` of the same night), once per
    session; restored for this module like :func:`published_night`. Ask for it where the module's
    tests move from the first run to the re-run: the module's fixtures set up before it keep
    reading the first run, and from there on the warehouse and folders hold the re-run."""
    _hand_out(warehouse_url, "rerun_night")
    return _rerun_once


def pytest_sessionfinish(session, exitstatus):
    from lnob.platform import warehouse

    try:
        warehouse.stop()
    except Exception:  # noqa: BLE001 - best effort at the end of the session
        pass
    shutil.rmtree(_SESSION, ignore_errors=True)
