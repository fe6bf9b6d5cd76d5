"""Benchmark of the dbt stage (``make bench-dbt``): figures and ratios, printed, never asserted.

On its own embedded warehouse (``.lnob/bench-dbt``): every source for ``LNOB_BENCH_PERSONS``
persons (default 200,000) is generated and loaded through the real loader, then

  - the nightly dbt stage from scratch (what `transform` and the mart gate's dbt tests run:
    seeds, staging, intermediate and their tests, the marts into the audit schema, the mart tests);
  - one plain ``dbt build --full-refresh`` of the same models, from the same raw data, for the
    ratio of the stage's overhead (several dbt invocations) to a single build;
  - an incremental night: a further 1% of persons delivered as new files by every community
    partner, loaded, and the same dbt stage again (staging only stages the new deliveries).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

SCHEMAS = "staging, intermediate, reference, marts_audit"


def _load_all(url, reg, cfg, day: date, persons: int, seed: int, only=None) -> tuple[int, float]:
    from lnob.ingest import load
    from lnob.platform import warehouse

    from lnob_dev import sample

    t = time.monotonic()
    sample.generate(cfg.landing_dir, persons, seed, day, only=only)
    rows = 0
    with warehouse.connect(url) as conn:
        fresh, _ = load.new_deliveries(conn, reg, cfg.landing_dir, day)
        for d in fresh:
            rows += load.load_delivery(conn, reg, d, "bench", cfg).rows_loaded
    return rows, time.monotonic() - t


def _drop_models(url) -> None:
    from lnob.platform import warehouse

    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists {SCHEMAS} cascade")


def _stage(url, cfg, breakdown: list[str] | None = None, label: str = "") -> float:
    """The nightly dbt stage; with ``breakdown``, where its time went (the preparation's steps,
    each dbt invocation's wall time against the sum of its nodes' own times, the slowest nodes)."""
    from lnob import pipeline, registry
    from lnob.ingest import load
    from lnob.platform import meta, roles, warehouse
    from lnob.transform import runner as transform
    from lnob.transform import voices

    t = time.monotonic()
    reg = registry.load()
    steps: list[tuple[str, float]] = []

    def step(name: str, fn: Callable[[], Any]) -> Any:
        s = time.monotonic()
        out = fn()
        steps.append((name, time.monotonic() - s))
        return out

    step("registry -> dbt files", lambda: registry.write_dbt_files(reg, cfg.dbt_project_dir))
    step("secure (grants, owners)", lambda: pipeline.secure(url, cfg))

    def raw_tables() -> None:
        with warehouse.connect(roles.step_url(url, roles.LOADER)) as conn, conn.cursor() as cur:
            meta.ensure(cur)
            for src in reg.sources.values():
                load.ensure_raw_table(cur, src)

    step("lnob_meta + raw tables", raw_tables)
    step("voices refresh (review queue, withdrawals)", lambda: voices.refresh(url, reg, cfg))
    runs = [
        step("dbt build (staging, intermediate, marts)", lambda: transform.build_audit(url, cfg)[0]),
        step("dbt test (mart tests)", lambda: transform.test_audit(url, cfg)),
    ]
    total = time.monotonic() - t
    if breakdown is not None:
        breakdown.append(f"{label}: {total:.1f} s")
        for name, seconds in steps:
            breakdown.append(f"    {name:46s} {seconds:6.1f} s")
        for run in runs:
            nodes = run.results
            busy = sum(r.get("seconds", 0) for r in nodes)
            breakdown.append(
                f"    {' '.join(run.command[:2]):18s} {len(nodes):4d} nodes, {run.seconds:5.1f} s wall, "
                f"{busy:5.1f} s in nodes (2 threads), {max(run.seconds - busy / 2, 0):4.1f} s outside nodes"
            )
            kinds: dict[str, float] = {}
            for r in nodes:
                kind = r["node"].split(".")[0]
                kinds[kind] = kinds.get(kind, 0) + r.get("seconds", 0)
            breakdown.append(
                "        by kind: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(kinds.items()))
            )
            for r in sorted(nodes, key=lambda r: -r.get("seconds", 0))[:8]:
                breakdown.append(f"        {r.get('seconds', 0):5.1f} s  {r['node'].split('.', 2)[-1][:90]}")
    return total


def main() -> None:
    persons = int(os.environ.get("LNOB_BENCH_PERSONS", "200000"))
    started_load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    project = Path(__file__).resolve().parents[2]
    home = project / ".lnob" / "bench-dbt"
    os.environ.update(
        LNOB_HOME=str(home),
        LNOB_LANDING_DIR=str(home / "landing"),
        LNOB_QUARANTINE_DIR=str(home / "quarantine"),
    )
    os.environ.setdefault("LNOB_WAREHOUSE_PORT", "55453")
    os.environ.setdefault("LNOB_PSEUDONYM_KEY", "bench-only-key")
    from lnob import registry
    from lnob.platform import warehouse
    from lnob.platform.config import settings
    from lnob.transform import runner as transform

    from lnob_dev import sample

    cfg = settings()
    url = warehouse.start(cfg)
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f"drop schema if exists raw, lnob_meta, {SCHEMAS}, marts, marts_previous cascade")
    shutil.rmtree(cfg.landing_dir, ignore_errors=True)
    reg = registry.load()
    figures: list[tuple[str, str]] = []

    rows, seconds = _load_all(url, reg, cfg, date(2026, 1, 1), persons, 1)
    figures.append(("generate + load every source", f"{rows:,} rows in {seconds:.1f} s"))

    _drop_models(url)
    breakdown: list[str] = []
    full = _stage(url, cfg, breakdown, "from scratch")
    figures.append(("dbt stage, from scratch", f"{full:.1f} s"))
    from lnob.quality import gates

    t = time.monotonic()
    gate = gates.gate_marts(url, cfg)
    figures.append(
        (
            "mart gate (GX: persons + every mart, SQL in the warehouse)",
            f"{time.monotonic() - t:.1f} s, {gate.evaluated} expectations, "
            f"{'passed' if gate.success else 'FAILED: ' + gate.describe()[:300]} (target <= 15 s)",
        )
    )

    _drop_models(url)
    from lnob import pipeline

    pipeline.prepare_transform(url, reg, cfg)
    t = time.monotonic()
    transform.run_dbt(["build", "--full-refresh"], url, cfg)
    plain = time.monotonic() - t
    figures.append(
        (
            "one plain `dbt build --full-refresh`",
            f"{plain:.1f} s; stage / plain build {full / plain:.2f}x (target <= 1.3)",
        )
    )

    # the stage on its own output, nothing new (what a night without deliveries costs)
    idle = _stage(url, cfg, breakdown, "no new delivery")
    figures.append(("dbt stage, no new delivery", f"{idle:.1f} s"))

    community = [s for s in sample.ALL_SOURCES if reg.partners[reg.source(s).partner].kind == "community"]
    new_rows, seconds = _load_all(
        url, reg, cfg, date(2026, 1, 2), max(persons // 100, 100), 2, only=community
    )
    figures.append(("a night with 1% new persons", f"{new_rows:,} new rows loaded in {seconds:.1f} s"))
    incremental = _stage(url, cfg, breakdown, "incremental night")
    figures.append(
        (
            "dbt stage, incremental night",
            f"{incremental:.1f} s; incremental / full {incremental / full:.2f}x at {persons:,} persons "
            "(target <= 0.3)",
        )
    )

    # the same night again, every model built as before build_plan (LNOB_DBT_SELECT_CHANGED=0), on
    # a further 1%: what the selection saves under the same load
    _load_all(url, reg, cfg, date(2026, 1, 3), max(persons // 100, 100), 3, only=community)
    os.environ[transform.SELECT_CHANGED] = "0"
    try:
        everything = _stage(url, cfg, breakdown, "incremental night, every model built")
    finally:
        os.environ.pop(transform.SELECT_CHANGED)
    figures.append(
        (
            "... the same, every model built (SELECT_CHANGED=0)",
            f"{everything:.1f} s; {everything / full:.2f}x of full; selection saves "
            f"{everything - incremental:.1f} s",
        )
    )
    figures.append(("load average (1, 5, 15 min) at the end", " ".join(f"{x:.1f}" for x in os.getloadavg())))
    figures.insert(0, ("load average (1, 5, 15 min) at the start", started_load))

    print(f"\nLNOB dbt benchmark, {persons:,} persons, {os.cpu_count()} cores")
    for name, value in figures:
        print(f"  {name:48s} {value}")
    print("\nWhere the dbt stage's time goes")
    for line in breakdown:
        print(f"  {line}")
    warehouse.stop(cfg)


if __name__ == "__main__":
    main()
