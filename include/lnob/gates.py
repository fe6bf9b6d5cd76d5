"""Great Expectations gates: the raw gate per delivery and the mart gate on the audit schema.

The GX file Data Context lives under ``expectations/gx``: suites, validation definitions and
checkpoints are committed JSON files that a reviewer reads like code. ``lnob gates scaffold``
(re)writes them from the registry contracts and the SDMX codelists; the nightly run only reads them.
The data source's connection string is ``${LNOB_GX_WAREHOUSE_URL}``, substituted from the
environment at run time, so no credentials are committed. Every expectation runs as SQL in the
warehouse: raw batches are one delivery (a ``_delivery_id`` partition), never a DataFrame.
"""

from __future__ import annotations

import csv
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lnob.config import AUDIT_SCHEMA, RAW_SCHEMA, Settings, settings
from lnob.registry import Registry

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
URL_VARIABLE = "LNOB_GX_WAREHOUSE_URL"
MART_TABLES = ["fct_sdg_observation"]
SDMX_DIMENSIONS = [
    "freq", "reporting_type", "series", "ref_area", "sex", "age", "urbanisation",
    "income_wealth_quantile", "education_lev", "occupation", "cust_breakdown",
    "composite_breakdown", "disability_status", "activity", "product", "time_period",
]


@dataclass
class GateResult:
    """Outcome of one checkpoint: which expectations failed, on which table, with sample rows."""

    gate: str
    success: bool
    evaluated: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)

    def describe(self) -> str:
        if self.success:
            return f"{self.gate}: passed ({self.evaluated} expectations)"
        lines = [f"{self.gate}: FAILED {len(self.failed)} of {self.evaluated} expectations"]
        for f in self.failed:
            lines.append(
                f"  - {f['table']}: {f['expectation']}({f['column'] or ''}) "
                f"unexpected={f['unexpected_count']} sample={f['sample']}"
            )
        return "\n".join(lines)


def _env(url: str) -> None:
    os.environ[URL_VARIABLE] = _sqlalchemy_url(url)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _sqlalchemy_url(url: str) -> str:
    from urllib.parse import urlsplit

    from lnob.warehouse import ConnInfo

    query = urlsplit(url).query  # e.g. options=-c role=... (the step's role) reach psycopg2
    return ConnInfo.from_url(url).url("postgresql+psycopg2") + (f"?{query}" if query else "")


@contextmanager
def _context_lock(cfg: Settings) -> Iterator[None]:
    """GX writes its YAML when assets are added; parallel tasks must not interleave."""
    lock_dir = cfg.home / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / "gx.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def context(cfg: Settings | None = None):
    import great_expectations as gx

    cfg = cfg or settings()
    return gx.get_context(mode="file", project_root_dir=str(cfg.gx_project_dir))


# --------------------------------------------------------------------------------------------
# Scaffold: write the suites, validation definitions and checkpoints from contracts and codelists
# --------------------------------------------------------------------------------------------


def _codes(cfg: Settings, codelist: str) -> list[str]:
    path = cfg.dbt_project_dir / "seeds" / "reference" / "sdmx_codes.csv"
    with path.open(encoding="utf-8") as fh:
        codes = [r["code"] for r in csv.DictReader(fh) if r["codelist_id"] == codelist]
    # The partnership's declared extensions of two codelists (see the in_codelist dbt test).
    if codelist == "CL_CUST_BREAKDOWN":
        with (cfg.dbt_project_dir / "seeds" / "lnob" / "lnob_custom_breakdowns.csv").open() as fh:
            codes += [r["cust_breakdown"] for r in csv.DictReader(fh)]
    if codelist == "CL_AREA":
        with (cfg.dbt_project_dir / "seeds" / "lnob" / "lnob_areas.csv").open() as fh:
            codes += [r["area_code"] for r in csv.DictReader(fh)]
    return sorted(set(codes))


def raw_expectations(registry: Registry, source_id: str) -> list:
    """The raw gate of one source, from its contract in the registry."""
    import great_expectations as gx

    src = registry.source(source_id)
    ex = gx.expectations
    out: list = [ex.ExpectTableRowCountToBeBetween(min_value=1)]
    for f in src.fields:
        if f.required:
            out.append(ex.ExpectColumnValuesToNotBeNull(column=f.name))
        if f.name == "age" and f.type == "integer":
            out.append(ex.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120))
        if f.name.startswith("wg_") and f.type == "integer":
            # Washington Group answers: 1..4, 8 don't know, 9 refused.
            out.append(ex.ExpectColumnValuesToBeInSet(column=f.name, value_set=[1, 2, 3, 4, 8, 9]))
        if f.name == "weight":
            out.append(ex.ExpectColumnValuesToBeBetween(column="weight", min_value=0, strict_min=True))
    return out


def mart_expectations(cfg: Settings, table: str) -> list:
    import great_expectations as gx

    ex = gx.expectations
    if table != "fct_sdg_observation":
        raise KeyError(table)
    out: list = [
        ex.ExpectTableRowCountToBeBetween(min_value=1),
        # Community and official observations may share an SDMX key; each is unique within its kind.
        ex.ExpectCompoundColumnsToBeUnique(column_list=["source_type", *SDMX_DIMENSIONS]),
    ]
    for column, codelist in [
        ("freq", "CL_FREQ"), ("reporting_type", "CL_REPORTING_TYPE"), ("ref_area", "CL_AREA"),
        ("sex", "CL_SEX"), ("age", "CL_AGE"), ("urbanisation", "CL_URBANISATION"),
        ("income_wealth_quantile", "CL_QUANTILE"), ("education_lev", "CL_EDUCATION_LEV"),
        ("occupation", "CL_OCCUPATION"), ("cust_breakdown", "CL_CUST_BREAKDOWN"),
        ("composite_breakdown", "CL_COMP_BREAKDOWN"), ("disability_status", "CL_DISABILITY"),
        ("activity", "CL_ACTIVITY"), ("product", "CL_PRODUCT"), ("obs_status", "CL_OBS_STATUS"),
        ("unit_measure", "CL_UNIT_MEASURE"), ("unit_mult", "CL_UNIT_MULT"), ("nature", "CL_NATURE"),
    ]:
        if column not in ("unit_mult", "nature"):  # attributes that may be absent
            out.append(ex.ExpectColumnValuesToNotBeNull(column=column))
        out.append(ex.ExpectColumnValuesToBeInSet(column=column, value_set=_codes(cfg, codelist)))
    out += [
        # No published cell rests on fewer respondents than the minimum (suppressed cells have n null).
        ex.ExpectColumnValuesToBeBetween(column="n", min_value={"$PARAMETER": "min_cell"}),
        ex.UnexpectedRowsExpectation(
            description="percentages lie in 0..100",
            unexpected_rows_query=(
                "select * from {batch} where unit_measure = 'PT' and (obs_value < 0 or obs_value > 100)"
            ),
        ),
        ex.UnexpectedRowsExpectation(
            description="every published community estimate carries its 95% interval",
            unexpected_rows_query=(
                "select * from {batch} where source_type = 'community' and obs_value is not null and "
                "(lower_bound is null or upper_bound is null)"
            ),
        ),
        ex.UnexpectedRowsExpectation(
            description="an interval, where given, contains the value",
            unexpected_rows_query=(
                "select * from {batch} where obs_value is not null and "
                "(lower_bound > obs_value or upper_bound < obs_value)"
            ),
        ),
        ex.UnexpectedRowsExpectation(
            description="a suppressed cell (Q) shows no value, bounds or n",
            unexpected_rows_query=(
                "select * from {batch} where obs_status = 'Q' and "
                "(obs_value is not null or lower_bound is not null or upper_bound is not null or n is not null)"
            ),
        ),
    ]
    return out


def _datasource(ctx):
    return ctx.data_sources.add_or_update_postgres(DATASOURCE, connection_string=f"${{{URL_VARIABLE}}}")


def _asset(ds, name: str, table: str, schema: str):
    try:
        return ds.get_asset(name)
    except LookupError:
        return ds.add_table_asset(name, table_name=table, schema_name=schema)


def _replace(ctx, suite_name: str, expectations: list, batch_definition, checkpoint_name: str | None):
    """(Re)write one suite and its validation definition (and checkpoint, when named)."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    stores = [(ctx.validation_definitions, suite_name), (ctx.suites, suite_name)]
    if checkpoint_name:
        stores.insert(0, (ctx.checkpoints, checkpoint_name))
    for store, name in stores:
        try:
            store.delete(name)
        except Exception:  # noqa: BLE001 - absent on first scaffold
            pass
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite))
    if checkpoint_name:
        ctx.checkpoints.add(gx.Checkpoint(
            name=checkpoint_name, validation_definitions=[vd],
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        ))
    return vd


def _scaffold_raw(ctx, ds, registry: Registry, source_id: str) -> str:
    from great_expectations.core.partitioners import PartitionerColumnValue

    a = _asset(ds, f"raw__{source_id}", registry.source(source_id).raw_table, RAW_SCHEMA)
    try:
        bd = a.get_batch_definition("by_delivery")
    except KeyError:
        bd = a.add_batch_definition(
            "by_delivery", partitioner=PartitionerColumnValue(column_name="_delivery_id"),
            validate_partitioner=False)
    _replace(ctx, f"raw__{source_id}", raw_expectations(registry, source_id), bd, f"raw__{source_id}")
    return f"raw__{source_id}"


def scaffold(registry: Registry, warehouse_url: str, cfg: Settings | None = None) -> list[str]:
    """(Re)write the GX context files. Needs the raw and audit tables to exist (GX checks them)."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    cfg = cfg or settings()
    _env(warehouse_url)
    written: list[str] = []
    with _context_lock(cfg):
        ctx = context(cfg)
        ds = _datasource(ctx)
        for source_id in sorted(registry.sources):
            written.append(_scaffold_raw(ctx, ds, registry, source_id))

        mart_vds = []
        for table in MART_TABLES:
            a = _asset(ds, f"audit__{table}", table, AUDIT_SCHEMA)
            try:
                bd = a.get_batch_definition("whole_table")
            except KeyError:
                bd = a.add_batch_definition_whole_table("whole_table")
            mart_vds.append(_replace(ctx, f"marts__{table}", mart_expectations(cfg, table), bd, None))
        try:
            ctx.checkpoints.delete("marts")
        except Exception:  # noqa: BLE001
            pass
        ctx.checkpoints.add(gx.Checkpoint(
            name="marts", validation_definitions=mart_vds,
            actions=[UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        ))
        written.append("marts")
    return written


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------


def _summarise(gate: str, result) -> GateResult:
    out = GateResult(gate=gate, success=bool(result.success))
    for _vid, run in result.run_results.items():
        table = run.meta.get("active_batch_definition", {}).get("data_asset_name") if run.meta else None
        if table is None:
            table = str(_vid)
        for r in run.results:
            out.evaluated += 1
            if r.success:
                continue
            cfg = r.expectation_config
            res = r.result or {}
            sample = res.get("partial_unexpected_list") or res.get("details", {}).get("unexpected_rows")
            if isinstance(sample, list):
                sample = sample[:5]
            out.failed.append({
                "table": table,
                "expectation": cfg.type,
                "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                "description": getattr(cfg, "description", None),
                "unexpected_count": res.get("unexpected_count", res.get("observed_value")),
                "sample": sample,
                "exception": (r.exception_info or {}).get("exception_message")
                if isinstance(r.exception_info, dict) else None,
            })
    return out


def run_checkpoint(name: str, warehouse_url: str, batch_parameters: dict | None = None,
                   cfg: Settings | None = None, write_if_missing=None) -> GateResult:
    """Run one checkpoint; ``write_if_missing(ctx)`` writes it first when it does not exist."""
    cfg = cfg or settings()
    _env(warehouse_url)
    with _context_lock(cfg):
        ctx = context(cfg)
        try:
            checkpoint = ctx.checkpoints.get(name)
        except Exception:  # noqa: BLE001 - GX raises DataContextError for a missing checkpoint
            if write_if_missing is None:
                raise
            log.info("no GX checkpoint %s yet: writing it", name)
            write_if_missing(ctx)
            checkpoint = ctx.checkpoints.get(name)
        result = checkpoint.run(batch_parameters=batch_parameters,
                                expectation_parameters={"min_cell": cfg.min_cell})
    return _summarise(name, result)


def gate_raw(registry: Registry, source_id: str, delivery_id: int, warehouse_url: str,
             cfg: Settings | None = None) -> GateResult:
    """The raw gate of one delivery. A source added to the registry since the suites were last
    scaffolded gets its suite written from its contract first: adding a partner stays config."""
    return run_checkpoint(f"raw__{source_id}", warehouse_url, {"_delivery_id": delivery_id}, cfg,
                          lambda ctx: _scaffold_raw(ctx, _datasource(ctx), registry, source_id))


def gate_marts(warehouse_url: str, cfg: Settings | None = None) -> GateResult:
    return run_checkpoint("marts", warehouse_url, None, cfg)


def data_docs_index(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    return str(cfg.gx_project_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html")
