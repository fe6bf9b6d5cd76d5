"""``make bench-celery``: the same night on Airflow's CeleryExecutor with one Celery worker, then
with two (``lnob.airflow.celery_local``: a real Redis, the api-server, scheduler, dag-processor and the
workers, Airflow's metadata in PostgreSQL), each from an empty warehouse on the same deliveries.

Prints, for each, the wall time of the mapped stages (``load_raw`` and ``gate_raw``: from the first
of them starting to the last ending, read from the task instances), the whole night, and which
worker ran how many mapped instances; then the speed-up. ``LNOB_BENCH_CELERY_PERSONS`` (default
100,000) persons; ``LNOB_BENCH_CELERY_CONCURRENCY`` (default 2) task slots per worker. On this
machine the workers, the scheduler and the warehouse share the same cores, so the speed-up is a
floor for a deployment whose workers have machines of their own. Figures only, nothing asserted.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import date
from pathlib import Path

NIGHT = date(2026, 11, 21)
SCHEMAS = "raw, lnob_meta, staging, intermediate, reference, marts, marts_audit, marts_previous"


def _load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _night(url: str, workers: int, concurrency: int, workdir: Path) -> dict:
    from lnob.airflow.celery_local import celery_airflow
    from lnob.platform import warehouse
    from lnob.platform.config import settings

    cfg = settings()
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists {SCHEMAS} cascade")
    shutil.rmtree(cfg.quarantine_dir, ignore_errors=True)
    with celery_airflow(
        url, workers=workers, concurrency=concurrency, workdir=workdir, extra_env={"LNOB_TASK_RETRIES": "0"}
    ) as af:
        load_before = _load_average()
        t = time.monotonic()
        run_id = af.trigger(NIGHT)
        state = af.wait(run_id, timeout=7200, poll=5)
        wall = time.monotonic() - t
        tis = af.task_instances(run_id)
    mapped = [ti for ti in tis if ti["task_id"] in ("load_raw", "gate_raw") and not ti["history"]]
    start = min(ti["start_date"] for ti in mapped)
    end = max(ti["end_date"] for ti in mapped)
    per_worker: dict[str, int] = {}
    for ti in mapped:
        per_worker[ti["hostname"]] = per_worker.get(ti["hostname"], 0) + 1
    return {
        "state": state,
        "night": wall,
        "mapped": (end - start).total_seconds(),
        "instances": len(mapped),
        "per_worker": per_worker,
        "load": f"{load_before} before, {_load_average()} after",
    }


def main() -> None:
    persons = int(os.environ.get("LNOB_BENCH_CELERY_PERSONS", "100000"))
    concurrency = int(os.environ.get("LNOB_BENCH_CELERY_CONCURRENCY", "2"))
    project = Path(__file__).resolve().parents[2]
    home = project / ".lnob" / "bench-celery"
    os.environ.update(
        LNOB_HOME=str(home),
        LNOB_LANDING_DIR=str(home / "landing"),
        LNOB_QUARANTINE_DIR=str(home / "quarantine"),
        LNOB_EXPORTS_DIR=str(home / "exports"),
        LNOB_REPORTS_DIR=str(home / "reports"),
        LNOB_WAREHOUSE_PORT="55455",
    )
    os.environ.setdefault("LNOB_PSEUDONYM_KEY", "bench-only-key")
    from lnob.platform import warehouse
    from lnob.platform.config import settings

    from lnob_dev import sample

    cfg = settings()
    url = warehouse.start(cfg)
    shutil.rmtree(cfg.landing_dir, ignore_errors=True)
    t = time.monotonic()
    sample.generate(cfg.landing_dir, persons=persons, seed=42, day=NIGHT)
    print(f"generated {persons:,} persons' deliveries in {time.monotonic() - t:.1f} s")
    results = {}
    try:
        for workers in (1, 2):
            results[workers] = _night(url, workers, concurrency, home / f"celery-{workers}")
            r = results[workers]
            print(
                f"{workers} worker(s): {r['state']}, load_raw + gate_raw {r['mapped']:.1f} s, "
                f"night {r['night']:.1f} s",
                flush=True,
            )
    finally:
        warehouse.stop(cfg)

    print(
        f"\nLNOB on CeleryExecutor (Redis), {persons:,} persons, {concurrency} task slots per worker, "
        f"{os.cpu_count()} cores shared by everything"
    )
    print(
        f"  {'workers':8s} {'load+gate wall':>15s} {'whole night':>12s} {'mapped TIs':>11s}  per worker; load average"
    )
    for workers, r in results.items():
        spread = ", ".join(f"{k}: {v}" for k, v in sorted(r["per_worker"].items()))
        print(
            f"  {workers:<8d} {r['mapped']:>13.1f} s {r['night']:>10.1f} s {r['instances']:>11d}  {spread}; {r['load']}"
        )
    if len(results) == 2 and results[2]["mapped"] > 0:
        print(
            f"  speed-up of load+gate, 2 workers against 1: {results[1]['mapped'] / results[2]['mapped']:.2f}x; "
            f"whole night {results[1]['night'] / results[2]['night']:.2f}x"
        )


if __name__ == "__main__":
    main()
