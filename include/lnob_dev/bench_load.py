"""``make bench-load``: the loader against ``psql \\copy`` of the same file into the same table.

Generates one person delivery of about a million rows (``LNOB_BENCH_LOAD_PERSONS``), loads it with
``lnob.ingest.load`` (exactly the DAG's code path: ledger, lineage, contract, one transaction), then has
``psql`` \\copy the same file into a table defined like the raw table (same columns, same
lineage defaults). Prints the figures and ratios; asserts nothing.

Then the JSON pages of the survey platforms (``LNOB_BENCH_LOAD_JSON_PERSONS``, by default the same
number of persons): the ODK Central source ``aak_clm_survey`` (OData pages) and the KoboToolbox
source ``brac_uhc_survey`` (households with their roster), every page of the night loaded as the
DAG's load task loads a source (:func:`lnob.pipeline.load_source`: one delivery per page, each in its
own transaction and ledger row), against ``psql \\copy`` of the same rows (the loaded columns
unloaded to CSV) into a table like the raw table.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def main() -> None:
    persons = int(os.environ.get("LNOB_BENCH_LOAD_PERSONS", "1000000"))
    project = Path(__file__).resolve().parents[2]
    home = project / ".lnob" / "bench"
    os.environ.update(
        LNOB_HOME=str(home),
        LNOB_LANDING_DIR=str(home / "landing-load"),
        LNOB_QUARANTINE_DIR=str(home / "quarantine"),
        LNOB_WAREHOUSE_PORT=os.environ.get("LNOB_BENCH_LOAD_PORT", "55451"),
    )
    from lnob import registry
    from lnob.ingest import load
    from lnob.platform import warehouse
    from lnob.platform.config import settings

    cfg = settings()
    url = warehouse.start(cfg)
    reg = registry.load()
    src = reg.source("aavn_household_survey")
    figures: list[tuple[str, str]] = []

    # The delivery, written by the generator in its own process (its memory is not the loader's).
    t = time.monotonic()
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lnob.cli",
            "sample",
            "generate",
            "--persons",
            str(persons),
            "--seed",
            "11",
            "--date",
            "2026-02-01",
            "--out",
            str(cfg.landing_dir),
            "--only",
            src.id,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    path = Path(out.stdout.split()[0])
    size = path.stat().st_size
    figures.append(
        (
            "generate the delivery",
            f"{time.monotonic() - t:.1f} s, {size / 1e6:,.0f} MB, "
            f"{len(src.fields)} partner columns + {len(load.LINEAGE_COLUMNS) + 1} lineage",
        )
    )

    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f'drop table if exists raw."{src.raw_table}" cascade')
        cur.execute("drop table if exists raw._bench_copy")
        cur.execute(
            "delete from lnob_meta.delivery_ledger where source_id = %s" if _has_ledger(cur) else "select 1",
            (src.id,),
        )
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    delivery = load.Delivery(src.id, src.partner, "2026-02-01", str(path), load.file_sha256(path))
    t = time.monotonic()
    with warehouse.connect(url) as conn:
        result = load.load_delivery(conn, reg, delivery, "bench-load", cfg)
    load_s = time.monotonic() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert result.outcome == "loaded", result.reason  # a benchmark of a quarantine is no benchmark
    rows = result.rows_loaded
    figures.append(
        (
            "lnob load (ledger, contract, lineage, COPY)",
            f"{rows:,} rows in {load_s:.2f} s = {rows / load_s:,.0f} rows/s",
        )
    )

    # psql \copy of the same file into a table like the raw table, lineage defaults included.
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute(f'create table raw._bench_copy (like raw."{src.raw_table}" including defaults)')
    names = ", ".join(f'"{f.name}"' for f in src.fields)
    settings_sql = "".join(
        f"select set_config('lnob.{k}', '{v}', false);"
        for k, v in (
            ("delivery_id", "0"),
            ("partner_id", src.partner),
            ("source_id", src.id),
            ("file_name", path.name),
            ("file_sha256", delivery.sha256),
            ("delivery_date", "2026-02-01"),
        )
    )
    psql = str(warehouse._bin("psql"))
    t = time.monotonic()
    subprocess.run(
        [
            psql,
            url,
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            settings_sql,
            "-c",
            f"\\copy raw._bench_copy ({names}) from '{path}' with (format csv, header, encoding 'UTF8')",
        ],
        check=True,
        capture_output=True,
    )
    copy_s = time.monotonic() - t
    with warehouse.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from raw._bench_copy")
        copied = cur.fetchone()[0]
        cur.execute("drop table raw._bench_copy")
    figures.append(
        (
            "psql \\copy of the same file, same table",
            f"{copied:,} rows in {copy_s:.2f} s = {copied / copy_s:,.0f} rows/s",
        )
    )
    figures.append(("loader speed / \\copy speed", f"{copy_s / load_s:.2f}x (target >= 0.7x)"))
    figures.append(("loader rows/s against target", f"{rows / load_s:,.0f} rows/s (target >= 150,000)"))
    figures.append(
        (
            "peak memory of the loading process",
            f"{peak:,.0f} MB ({before:,.0f} MB before loading; target < 500 MB)",
        )
    )
    print(f"\nLNOB load benchmark, {persons:,} persons, {os.cpu_count()} cores")
    for name, value in figures:
        print(f"  {name:46s} {value}")
    json_persons = int(os.environ.get("LNOB_BENCH_LOAD_JSON_PERSONS", str(persons)))
    if json_persons > 0:
        json_pages(url, reg, cfg, json_persons, psql)


JSON_SOURCES = ("aak_clm_survey", "brac_uhc_survey")


def json_pages(url: str, reg, cfg, persons: int, psql: str) -> None:
    """The survey platforms' JSON pages through the DAG's load task, against \\copy of the same rows."""
    import shutil

    from lnob import pipeline
    from lnob.ingest import load
    from lnob.platform import warehouse

    landing = cfg.landing_dir.parent / "landing-json"
    shutil.rmtree(landing, ignore_errors=True)
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
            "11",
            "--date",
            "2026-02-01",
            "--out",
            str(landing),
            "--only",
            *JSON_SOURCES,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: list[tuple[str, str]] = [("generate the pages", f"{time.monotonic() - t:.1f} s")]
    for source_id in JSON_SOURCES:
        src = reg.source(source_id)
        pages = sorted(p for p in (landing / src.partner / "2026-02-01").iterdir() if p.suffix == ".json")
        size = sum(p.stat().st_size for p in pages)
        with warehouse.connect(url) as conn, conn.cursor() as cur:
            cur.execute(f'drop table if exists raw."{src.raw_table}" cascade')
            cur.execute("drop table if exists raw._bench_copy")
            cur.execute(
                "delete from lnob_meta.delivery_ledger where source_id = %s"
                if _has_ledger(cur)
                else "select 1",
                (src.id,),
            )
        batch = {
            "source_id": src.id,
            "partner_id": src.partner,
            "deliveries": [
                {
                    "source_id": src.id,
                    "partner_id": src.partner,
                    "delivery_date": "2026-02-01",
                    "path": str(p),
                    "sha256": load.file_sha256(p),
                }
                for p in pages
            ],
        }
        t = time.monotonic()
        loaded = pipeline.load_source(url, "bench-load-json", batch, cfg)["deliveries"]
        load_s = time.monotonic() - t
        outcomes = {d["outcome"] for d in loaded}
        assert outcomes == {"loaded"}, outcomes  # a benchmark of a quarantine is no benchmark
        rows = sum(d["rows_loaded"] for d in loaded)
        # The same rows as plain CSV (what the loader hands COPY), then psql \copy of them.
        columns = ", ".join([f'"{f.name}"' for f in src.fields] + ['"_overflow"', '"_row_number"'])
        unloaded = landing / f"{src.id}.csv"
        with (
            warehouse.connect(url) as conn,
            conn.cursor() as cur,
            open(unloaded, "w", encoding="utf-8") as fh,
        ):
            cur.copy_expert(
                f'copy (select {columns} from raw."{src.raw_table}") to stdout with (format csv)', fh
            )
            cur.execute(f'create table raw._bench_copy (like raw."{src.raw_table}" including defaults)')
        settings_sql = "".join(
            f"select set_config('lnob.{k}', '{v}', false);"
            for k, v in (
                ("delivery_id", "0"),
                ("partner_id", src.partner),
                ("source_id", src.id),
                ("file_name", "bench"),
                ("file_sha256", "bench"),
                ("delivery_date", "2026-02-01"),
            )
        )
        t = time.monotonic()
        subprocess.run(
            [
                psql,
                url,
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                settings_sql,
                "-c",
                f"\\copy raw._bench_copy ({columns}) from '{unloaded}' with (format csv, encoding 'UTF8')",
            ],
            check=True,
            capture_output=True,
        )
        copy_s = time.monotonic() - t
        with warehouse.connect(url) as conn, conn.cursor() as cur:
            cur.execute("select count(*) from raw._bench_copy")
            copied = cur.fetchone()[0]
            cur.execute("drop table raw._bench_copy")
        unloaded.unlink()
        figures.append((f"{src.id} ({src.format['kind']})", f"{len(pages):,} pages, {size / 1e6:,.0f} MB"))
        figures.append(
            (
                "  lnob load_source (every page a delivery)",
                f"{rows:,} rows in {load_s:.2f} s = {rows / load_s:,.0f} rows/s",
            )
        )
        figures.append(
            (
                "  psql \\copy of the same rows, same table",
                f"{copied:,} rows in {copy_s:.2f} s = {copied / copy_s:,.0f} rows/s",
            )
        )
        figures.append(("  loader speed / \\copy speed", f"{copy_s / load_s:.2f}x"))
    print(f"\nLNOB load benchmark, JSON pages, {persons:,} persons, {os.cpu_count()} cores")
    for name, value in figures:
        print(f"  {name:46s} {value}")


def _has_ledger(cur) -> bool:
    cur.execute("select to_regclass('lnob_meta.delivery_ledger') is not null")
    return cur.fetchone()[0]


if __name__ == "__main__":
    main()
