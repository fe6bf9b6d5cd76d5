"""Benchmarks: figures and ratios, printed, never asserted (``make bench``).

Runs on its own embedded warehouse (``.lnob/bench``) so it never touches the demo's data:
generation, loading (rows/s and the ratio to PostgreSQL's own COPY of the same file), the dbt
stage, and the raw gate, for ``LNOB_BENCH_PERSONS`` persons (default 200,000).
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path


def main() -> None:
    persons = int(os.environ.get("LNOB_BENCH_PERSONS", "200000"))
    project = Path(__file__).resolve().parents[2]
    home = project / ".lnob" / "bench"
    os.environ.update(
        LNOB_HOME=str(home),
        LNOB_LANDING_DIR=str(home / "landing"),
        LNOB_QUARANTINE_DIR=str(home / "quarantine"),
        LNOB_WAREHOUSE_PORT="55451",
    )
    os.environ.setdefault("LNOB_PSEUDONYM_KEY", "bench-only-key")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from lnob import registry
    from lnob.ingest import load
    from lnob.platform import warehouse
    from lnob.platform.config import settings
    from lnob.quality import gates
    from lnob.transform import runner as transform

    from lnob_dev import sample
    from lnob_dev.sample.community import VIETNAM_HEADER

    cfg = settings()
    url = warehouse.start(cfg)
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute("drop schema if exists raw, lnob_meta, staging, intermediate, marts_audit cascade")
    reg = registry.load()
    figures: list[tuple[str, str]] = []

    # The generator for every source, as a newcomer runs it: its own process, its own peak memory.
    every = home / "generated"
    shutil.rmtree(every, ignore_errors=True)
    t = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lnob.cli",
            "sample",
            "generate",
            "--persons",
            str(persons),
            "--seed",
            "1",
            "--date",
            "2026-01-01",
            "--out",
            str(every),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    gen_all = time.monotonic() - t
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in every.rglob("*") if p.is_file())
    figures.append(
        (
            "generate, every source",
            f"{persons:,} persons in {gen_all:.1f} s, peak {child_rss:,.0f} MB, {size / 1e6:,.0f} MB written",
        )
    )
    shutil.rmtree(every, ignore_errors=True)

    t = time.monotonic()
    (path,) = sample.generate(cfg.landing_dir, persons, 1, date(2026, 1, 1), only=["aavn_household_survey"])
    gen = time.monotonic() - t
    figures.append(
        ("generate, Viet Nam CSV only", f"{persons:,} persons in {gen:.1f} s ({persons / gen:,.0f} rows/s)")
    )

    delivery = load.Delivery(
        "aavn_household_survey", "actionaid_vietnam", "2026-01-01", str(path), load.file_sha256(path)
    )
    t = time.monotonic()
    with warehouse.connect(url) as conn:
        r = load.load_delivery(conn, reg, delivery, "bench", cfg)
    lt = time.monotonic() - t
    figures.append(
        (
            "load (ledger + contract + lineage + COPY)",
            f"{r.rows_loaded:,} rows in {lt:.1f} s ({r.rows_loaded / lt:,.0f} rows/s)",
        )
    )

    # PostgreSQL's own COPY of the same file into a plain text table, for the ratio.
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cols = ", ".join(f'"{c}" text' for c in VIETNAM_HEADER)
        cur.execute(f"drop table if exists raw._bench_copy; create unlogged table raw._bench_copy ({cols})")
        t = time.monotonic()
        with open(path, encoding="utf-8-sig") as fh:
            cur.copy_expert("copy raw._bench_copy from stdin with (format csv, header)", fh)
        ct = time.monotonic() - t
        cur.execute("drop table raw._bench_copy")
    figures.append(
        (
            "plain COPY into an all-text table, no lineage",
            f"{ct:.1f} s; loader/COPY speed ratio {ct / lt:.2f}x "
            "(make bench-load compares with \\copy into the same table)",
        )
    )

    t = time.monotonic()
    assert r.delivery_id is not None, "the benchmark delivery was loaded"
    gate = gates.gate_raw(reg, "aavn_household_survey", r.delivery_id, url, cfg)
    figures.append(
        (
            "raw gate (GX, SQL in the warehouse)",
            f"{r.rows_loaded:,} rows in {time.monotonic() - t:.1f} s, "
            f"{'passed' if gate.success else 'FAILED'} (target <= 15 s at 1M rows)",
        )
    )

    with warehouse.connect(url) as conn, conn.cursor() as cur:
        for src in reg.sources.values():
            load.ensure_raw_table(cur, src)
    t = time.monotonic()
    transform.build_audit(url, cfg)
    figures.append(("dbt stage (seed, staging, intermediate, marts)", f"{time.monotonic() - t:.1f} s"))
    # The mart gate needs every source (an empty mart fails it): `make bench-dbt` measures it after
    # a build of every source.

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures.append(("peak memory of this process", f"{peak:,.0f} MB"))
    print(f"\nLNOB benchmark, {persons:,} persons, {os.cpu_count()} cores")
    for name, value in figures:
        print(f"  {name:48s} {value}")
    warehouse.stop(cfg)


if __name__ == "__main__":
    main()
