"""Exports of the published marts, written after each publish into ``data/exports/<night>/``.

- ``lnob_structure.xml``, ``sdg_observations.sdmx.xml`` (SDMX-ML 2.1 structure-specific,
  series-keyed with TIME_PERIOD at the observation; flat on request) and
  ``sdg_observations.sdmx.csv`` (SDMX-CSV 2.0): every published observation against the SDG
  structure extended with the LNOB codes, written with ``sdmx1`` and read back with it and with
  ``pysdmx`` (:mod:`lnob.publish.sdmx_export`);
- ``open_sdg/<ISO3>/indicator_<g>-<t>-<i>.csv`` (a partnership proxy under its own
  ``<g>-<t>-<i>-lnob`` id) and ``open_sdg/<ISO3>/indicator-config/<id>.yml``: the community data
  in Open SDG's format, each file checked against its rules (:mod:`lnob.publish.open_sdg`);
- ``marts/<table>.parquet`` and ``marts/<table>.csv``: every table and view of ``marts``, read
  back and counted against the mart.

Every CSV is meant for spreadsheets too: a text cell that a spreadsheet would evaluate as a
formula (``=``, ``+``, ``-``, ``@``, tab, CR first) is written with a leading ``'``
(:mod:`lnob.ingest.csv_safe`); numbers are written as they are. Parquet and SDMX-ML carry text verbatim.

The step runs as the BI reader: whatever it needs beyond ``marts`` comes from the committed dbt
seeds. Any check that fails raises :class:`ExportError` naming the file and the first difference.
"""

from __future__ import annotations

import csv
from pathlib import Path

from lnob.ingest import csv_safe
from lnob.platform.config import PUBLISHED_SCHEMA
from lnob.publish import open_sdg, sdmx_export
from lnob.publish.sdmx_export import ExportError

__all__ = ["ExportError", "export_all"]


def _published_tables(cur) -> list[str]:
    cur.execute(
        "select table_name from information_schema.tables where table_schema = %s order by 1",
        (PUBLISHED_SCHEMA,),
    )
    return [r[0] for r in cur.fetchall()]


def _csv_select(cur, schema: str, table: str) -> str:
    """``select`` of every column of ``schema.table`` in order, text columns neutralised for
    spreadsheets (:func:`lnob.ingest.csv_safe.sql_cell`), every other column as it is."""
    cur.execute(
        """select quote_ident(a.attname), t.typcategory = 'S'
                   from pg_attribute a join pg_type t on t.oid = a.atttypid
                   where a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass
                     and a.attnum > 0 and not a.attisdropped
                   order by a.attnum""",
        (schema, table),
    )
    columns = [
        f"{csv_safe.sql_cell(name)} as {name}" if is_text else name for name, is_text in cur.fetchall()
    ]
    return f'select {", ".join(columns)} from {schema}."{table}"'


def write_mart_csvs(conn, out_dir: Path, schema: str = PUBLISHED_SCHEMA) -> dict[str, tuple[Path, int]]:
    """One CSV (with header) per published table or view, as PostgreSQL's COPY writes it, text
    cells neutralised for spreadsheets."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with conn.cursor() as cur:
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", (schema,)
        )
        for (t,) in cur.fetchall():
            path = out_dir / f"{t}.csv"
            query = _csv_select(cur, schema, t)
            with path.open("w", encoding="utf-8", newline="") as fh:
                cur.copy_expert(f"copy ({query}) to stdout with (format csv, header)", fh)
            cur.execute(f'select count(*) from {schema}."{t}"')
            written[t] = (path, cur.fetchone()[0])
    return written


def write_mart_parquet(conn, out_dir: Path) -> dict[str, tuple[Path, int]]:
    """One Parquet file per published table or view, typed from the query's columns."""
    import pandas as pd

    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    with conn.cursor() as cur:
        for t in _published_tables(cur):
            cur.execute(f'select * from {PUBLISHED_SCHEMA}."{t}"')
            cols = [d[0] for d in cur.description]
            frame = pd.DataFrame.from_records(cur.fetchall(), columns=cols)
            path = out_dir / f"{t}.parquet"
            frame.to_parquet(path, index=False)
            written[t] = (path, len(frame))
    return written


def read_back_rows(path: Path) -> int:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    with path.open(encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.reader(fh)) - 1


def _mart_count(conn, table: str) -> int:
    with conn.cursor() as cur:
        cur.execute(f'select count(*) from {PUBLISHED_SCHEMA}."{table}"')
        return cur.fetchone()[0]


def export_all(
    conn, out_dir: Path, seeds_dir: Path | None = None, sdmx_layout: str | None = None
) -> dict[str, dict]:
    """Write every export and check each; raise ExportError naming the first that does not
    hold what the marts hold. Returns ``{file name relative to out_dir: {path, rows, ...}}``.
    ``sdmx_layout``: the SDMX-ML layout, ``series`` or ``flat`` (default: ``LNOB_SDMX_LAYOUT``,
    series-keyed)."""
    from lnob.platform.config import settings

    cfg = settings()
    seeds_dir = seeds_dir or cfg.dbt_project_dir / "seeds"
    files: dict[str, dict] = {}
    files.update(sdmx_export.export(conn, out_dir, seeds_dir, sdmx_layout or cfg.sdmx_layout))
    try:
        files.update(open_sdg.export(conn, out_dir / "open_sdg", seeds_dir))
    except open_sdg.OpenSdgError as exc:
        raise ExportError(str(exc)) from exc
    marts = out_dir / "marts"
    for written in (write_mart_csvs(conn, marts), write_mart_parquet(conn, marts)):
        for t, (p, n) in written.items():
            files[f"marts/{p.name}"] = {"path": str(p), "rows": n, "table": t}
    for info in files.values():
        if "table" not in info:
            continue
        back, expected = read_back_rows(Path(info["path"])), _mart_count(conn, info["table"])
        if back != expected or info["rows"] != expected:
            raise ExportError(f"{info['path']}: reads back {back} rows, marts.{info['table']} has {expected}")
    return files
