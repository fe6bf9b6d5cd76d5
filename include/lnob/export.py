"""Exports of the published observations, written after each publish into a dated folder.

SDMX-CSV (the SDMX 2.1 CSV layout: DATAFLOW, the sixteen dimensions, OBS_VALUE and attributes)
and a CSV of each published mart. Each file is read back and compared with the mart row count,
so a truncated export is caught at once.
"""

from __future__ import annotations

import csv
from pathlib import Path

from lnob.config import PUBLISHED_SCHEMA

DATAFLOW = "IAEG-SDGs:DF_SDG_GLH(1.0)"
DIMENSIONS = [
    "FREQ", "REPORTING_TYPE", "SERIES", "REF_AREA", "SEX", "AGE", "URBANISATION",
    "INCOME_WEALTH_QUANTILE", "EDUCATION_LEV", "OCCUPATION", "CUST_BREAKDOWN",
    "COMPOSITE_BREAKDOWN", "DISABILITY_STATUS", "ACTIVITY", "PRODUCT", "TIME_PERIOD",
]
ATTRIBUTES = ["OBS_VALUE", "UNIT_MEASURE", "UNIT_MULT", "OBS_STATUS", "NATURE", "LOWER_BOUND",
              "UPPER_BOUND", "SOURCE_DETAIL", "COMMENT_OBS"]


class ExportError(RuntimeError):
    pass


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def write_sdmx_csv(conn, out_dir: Path) -> tuple[Path, int]:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "sdg_observations.sdmx.csv"
    cols = [c.lower() for c in DIMENSIONS + ATTRIBUTES]
    with conn.cursor() as cur:
        cur.execute(
            f"select {', '.join(cols)} from {PUBLISHED_SCHEMA}.fct_sdg_observation "
            f"order by {', '.join(c.lower() for c in DIMENSIONS)}"
        )
        rows = 0
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["DATAFLOW", *DIMENSIONS, *ATTRIBUTES])
            for rec in cur:
                w.writerow([DATAFLOW, *(_fmt(v) for v in rec)])
                rows += 1
    return path, rows


def write_mart_csvs(conn, out_dir: Path) -> dict[str, tuple[Path, int]]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1",
            (PUBLISHED_SCHEMA,),
        )
        tables = [r[0] for r in cur.fetchall()]
        for t in tables:
            path = out_dir / f"{t}.csv"
            with path.open("w", encoding="utf-8", newline="") as fh:
                cur.copy_expert(f'copy (select * from {PUBLISHED_SCHEMA}."{t}") to stdout with (format csv, header)', fh)
            cur.execute(f'select count(*) from {PUBLISHED_SCHEMA}."{t}"')
            written[t] = (path, cur.fetchone()[0])
    return written


def read_back_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def export_all(conn, out_dir: Path) -> dict[str, dict]:
    """Write every export and check each against the mart; raise if one does not read back."""
    files: dict[str, dict] = {}
    path, rows = write_sdmx_csv(conn, out_dir)
    files[path.name] = {"path": str(path), "rows": rows}
    for _table, (p, n) in write_mart_csvs(conn, out_dir / "marts").items():
        files[f"marts/{p.name}"] = {"path": str(p), "rows": n}
    for name, info in files.items():
        back = read_back_rows(Path(info["path"]))
        if back != info["rows"]:
            raise ExportError(f"export {name} reads back {back} rows, the mart has {info['rows']}")
    return files
