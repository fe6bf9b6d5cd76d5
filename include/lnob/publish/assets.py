"""The published marts as Airflow Assets: what the Assets page lists and what a downstream DAG
schedules on (``schedule=[Asset("marts.fct_lnob_gap", ...)]`` or :func:`mart_assets`).

One asset per model of ``dbt_project/models/marts/``: every model there is built into the audit
schema and swapped into ``marts`` by the publish task, whose ``outlets`` they are. The list is
read from the dbt project's file names (no database, no dbt at DAG parse time), so a mart the dbt
project gains becomes an asset without a change here.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from lnob.platform.config import PUBLISHED_SCHEMA, _project_dir

#: Scheme of the marts' URIs: the warehouse is whatever the ``lnob_warehouse`` connection names.
URI_PREFIX = f"lnob://warehouse/{PUBLISHED_SCHEMA}/"
GROUP = "lnob_marts"


def _dbt_project() -> Path:
    env = os.environ.get("LNOB_DBT_PROJECT_DIR")
    if env:
        return Path(env)
    return _project_dir() / "dbt_project"


@lru_cache(maxsize=4)
def _marts(models: Path) -> tuple[str, ...]:
    return tuple(sorted({p.stem for p in models.rglob("*.sql")}))


def published_marts() -> tuple[str, ...]:
    """The names of the tables and views publish puts into ``marts`` (sorted)."""
    return _marts(_dbt_project() / "models" / "marts")


def name(table: str) -> str:
    return f"{PUBLISHED_SCHEMA}.{table}"


def mart_assets() -> list:
    """An ``airflow.sdk.Asset`` per published mart (named ``marts.<table>``)."""
    from airflow.sdk import Asset

    return [
        Asset(
            name=name(t),
            uri=URI_PREFIX + t,
            group=GROUP,
            extra={"schema": PUBLISHED_SCHEMA, "table": t, "read_as": "lnob_bi_reader"},
        )
        for t in published_marts()
    ]


def event_extra(table: str, counts: dict[str, int], night: str, run_id: str) -> dict:
    """What one night's asset event says about a mart: its rows as published tonight."""
    return {"rows": counts.get(table), "night": night, "run_id": run_id}
