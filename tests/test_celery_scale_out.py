"""Scale-out on a real distributed executor: a small night on Airflow's CeleryExecutor with a real
Redis broker (Debian's `redis-server` on 127.0.0.1), two Celery workers, the api-server, the
scheduler and the dag-processor (lnob.airflow.celery_local, the configuration docker-compose.yml runs),
Airflow's metadata in PostgreSQL.

The scheduler dispatches the mapped `load_raw` instances to both workers. While one worker is
loading the night's largest delivery set (the KoboToolbox pages of `brac_uhc_survey`: its COPY is
seen in the warehouse's `pg_stat_activity`), that worker and everything it started are killed with
SIGKILL, as when its machine dies. The scheduler finds the task's heartbeat gone, the task is
retried on the other worker, and the night completes; every delivery is in the ledger once, with
exactly the rows it delivered, and no raw row is loaded twice.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date

import pytest
from helpers import clean_warehouse, csv_data_rows
from lnob import registry
from lnob.airflow.celery_local import celery_airflow
from lnob.platform.config import settings
from lnob_dev import sample

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NIGHT = date(2026, 11, 21)
#: the delivery set loaded while its worker is killed: KoboToolbox pages, read record by record
TARGET = "brac_uhc_survey"
WORKERS = {"worker-1", "worker-2"}


def _loading(db, raw_table: str) -> bool:
    """A warehouse session is inside a transaction writing ``raw."<raw_table>"`` right now (the
    loader's COPY and its checks; only the target's `load_raw` writes that table at this stage)."""
    with db.cursor() as cur:
        cur.execute(
            """select count(*) from pg_stat_activity
                       where pid <> pg_backend_pid() and state in ('active', 'idle in transaction')
                         and xact_start is not null and query ilike %s""",
            (f'%raw."{raw_table}"%',),
        )
        return cur.fetchone()[0] > 0


def _target_map_index(af, run_id: str) -> int | None:
    """The map index of the target's `load_raw`: its place in what `extract` returned (the label
    `rendered_map_index` is only rendered when an instance ends)."""
    with af.connect() as conn, conn.cursor() as cur:
        cur.execute(
            """select value from xcom where dag_id = 'lnob_nightly' and run_id = %s
                       and task_id = 'extract' and key = 'return_value' and map_index = -1""",
            (run_id,),
        )
        row = cur.fetchone()
    if row is None:
        return None
    value = row[0] if not isinstance(row[0], str | bytes) else json.loads(row[0])
    (index,) = [i for i, batch in enumerate(value) if batch["source_id"] == TARGET]
    return index


def _kill_while_loading(af, run_id: str, db, raw_table: str, timeout: float = 600) -> dict:
    """Wait until a worker runs the target's `load_raw` and its load is in the warehouse, then kill
    that worker. Returns what was killed."""
    deadline = time.monotonic() + timeout
    index = None
    while time.monotonic() < deadline:
        if index is None:
            index = _target_map_index(af, run_id)
        current = [
            t
            for t in af.task_instances(run_id, "load_raw")
            if not t["history"] and index is not None and t["map_index"] == index
        ]
        if current and current[0]["state"] == "running" and current[0]["hostname"] in WORKERS:
            ti = current[0]
            seen = time.monotonic()
            while time.monotonic() - seen < 120:
                if _loading(db, raw_table):
                    af.kill_worker(ti["hostname"])
                    return {"worker": ti["hostname"], "try_number": ti["try_number"], "map_index": index}
                time.sleep(0.05)
            pytest.fail(f"{TARGET}'s load_raw ran on {ti['hostname']} but no load was seen in the warehouse")
        if current and current[0]["state"] in ("success", "failed"):
            pytest.fail(f"{TARGET}'s load_raw finished ({current[0]['state']}) before it could be killed")
        if af.run_state(run_id) in ("success", "failed"):
            pytest.fail(f"the run ended before {TARGET}'s load_raw was seen running")
        time.sleep(0.1)
    pytest.fail(f"{TARGET}'s load_raw did not start within {timeout:.0f} s\n" + af.tail("scheduler"))


@pytest.fixture(scope="module")
def night(warehouse_url, session_dir):
    import psycopg2

    clean_warehouse(warehouse_url, landing=True)
    landing = settings().landing_dir
    sample.generate(landing, persons=3000, seed=42, day=NIGHT)
    # the target's pages larger than the rest, so that its load is still running when it is killed
    sample.generate(landing, persons=20000, seed=42, day=NIGHT, only=[TARGET])
    raw_table = registry.load().source(TARGET).raw_table
    started = time.monotonic()
    with celery_airflow(
        warehouse_url,
        workers=2,
        concurrency=2,
        workdir=session_dir / "celery",
        extra_env={
            "LNOB_TASK_RETRIES": "2",
            "LNOB_TASK_RETRY_DELAY": "5",
            # a killed worker's task is declared dead after 30 s without a heartbeat (default 300)
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        },
    ) as af:
        up = time.monotonic()
        run_id = af.trigger(NIGHT)
        watch = psycopg2.connect(warehouse_url)
        watch.autocommit = True
        try:
            killed = _kill_while_loading(af, run_id, watch, raw_table)
        finally:
            watch.close()
        state = af.wait(run_id, timeout=900)
        tis = af.task_instances(run_id)
        with af.connect() as conn, conn.cursor() as cur:
            cur.execute(
                """select map_index from log where event = 'heartbeat timeout' and dag_id = 'lnob_nightly'
                           and run_id = %s and task_id = 'load_raw'""",
                (run_id,),
            )
            heartbeat_timeouts = [r[0] for r in cur.fetchall()]
        logs = {name: af.tail(name, 20000) for name in ("scheduler", *WORKERS)}
    print(
        f"celery night: start-up {up - started:.0f} s, night {time.monotonic() - up:.0f} s; killed {killed}"
    )
    return {
        "state": state,
        "killed": killed,
        "tis": tis,
        "run_id": run_id,
        "logs": logs,
        "raw_table": raw_table,
        "heartbeat_timeouts": heartbeat_timeouts,
    }


def test_the_night_completes_on_celery(night):
    failed = [
        (t["task_id"], t["rendered_map_index"], t["state"])
        for t in night["tis"]
        if not t["history"] and t["state"] not in ("success", "skipped")
    ]
    assert night["state"] == "success", (failed, night["logs"]["scheduler"][-5000:])
    assert not failed
    # fetch_api alone may be skipped: no API source has a connection here (the pages are delivered)
    assert {t["task_id"] for t in night["tis"] if t["state"] == "skipped"} <= {"fetch_api"}
    summary = json.loads((settings().reports_dir / NIGHT.isoformat() / "summary.json").read_text())
    assert summary["complete"] and summary["published_tonight"]
    assert set(summary["sources"]) == set(sample.ALL_SOURCES)


def _source(ti: dict) -> str:
    """The source of a mapped instance from its label, `<source_id> (<partner>, n new deliveries)`."""
    return (ti["rendered_map_index"] or "").split(" ", 1)[0]


def test_mapped_loads_ran_on_both_workers(night):
    loads = [t for t in night["tis"] if t["task_id"] == "load_raw"]
    assert {t["hostname"] for t in loads} == WORKERS, [
        (t["rendered_map_index"], t["hostname"]) for t in loads
    ]
    final = [t for t in loads if not t["history"]]
    assert {_source(t) for t in final} == set(sample.ALL_SOURCES)
    survivor = (WORKERS - {night["killed"]["worker"]}).pop()
    # the surviving worker ran other sources' loads too, not only the retried one
    assert any(t["hostname"] == survivor and _source(t) != TARGET for t in final)


def test_the_killed_load_is_retried_on_the_other_worker(night):
    killed = night["killed"]
    tries = sorted(
        (t for t in night["tis"] if t["task_id"] == "load_raw" and t["map_index"] == killed["map_index"]),
        key=lambda t: t["try_number"],
    )
    first, last = tries[0], tries[-1]
    assert first["try_number"] == killed["try_number"] and first["hostname"] == killed["worker"]
    assert first["history"] and first["state"] in ("failed", "up_for_retry")
    assert not last["history"] and last["state"] == "success" and last["try_number"] > first["try_number"]
    assert last["hostname"] == (WORKERS - {killed["worker"]}).pop()
    assert _source(last) == TARGET
    # the scheduler failed the killed try for its missing heartbeat (Airflow's audit log)
    assert killed["map_index"] in night["heartbeat_timeouts"], night["heartbeat_timeouts"]


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_delivery_is_loaded_exactly_once(night, db):
    landing = settings().landing_dir
    delivered = {_sha256(p): p for p in landing.rglob("*") if p.is_file()}
    with db.cursor() as cur:
        cur.execute("""select file_sha256, count(*), min(status), min(delivery_id), min(rows_loaded), min(source_id)
                       from lnob_meta.delivery_ledger group by 1""")
        ledger = {r[0]: r[1:] for r in cur.fetchall()}
    # one ledger row per delivered file, loaded, and nothing the landing folder does not hold
    assert set(ledger) == set(delivered), set(ledger) ^ set(delivered)
    assert all(count == 1 and status == "loaded" for count, status, *_ in ledger.values()), ledger
    reg = registry.load()
    for sha, (_, _, delivery_id, rows_loaded, source_id) in ledger.items():
        table = reg.source(source_id).raw_table
        with db.cursor() as cur:
            cur.execute(
                f"""select count(*), count(*) filter (where _delivery_id = %s),
                                   count(distinct _delivery_id)
                            from raw."{table}" where _file_sha256 = %s""",
                (delivery_id, sha),
            )
            total, of_delivery, deliveries = cur.fetchone()
        # the rows of a file once, all of its one delivery: none left by the killed attempt
        assert total == of_delivery == rows_loaded and deliveries == 1, (
            source_id,
            delivered[sha],
            total,
            rows_loaded,
        )
        path = delivered[sha]
        fmt = reg.source(source_id).format
        if fmt.get("kind") == "csv" and source_id != "statcan_canada":  # a CSV: one raw row per data row
            assert rows_loaded == csv_data_rows(
                path, fmt.get("encoding", "utf-8"), fmt.get("delimiter", ",")
            ), path
    # raw holds no row of a delivery the ledger does not know (a rolled-back load leaves none)
    with db.cursor() as cur:
        cur.execute(f"""select count(*) from raw."{night["raw_table"]}" r
                        where not exists (select 1 from lnob_meta.delivery_ledger l
                                          where l.delivery_id = r._delivery_id and l.status = 'loaded')""")
        assert cur.fetchone()[0] == 0
