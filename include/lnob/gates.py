"""Great Expectations gates: the raw gate per delivery and the mart gate on the audit schema.

The GX file Data Context lives under ``expectations/gx``: suites, validation definitions and
checkpoints are committed JSON files that a reviewer reads like code. ``lnob gates scaffold``
(re)writes them from the registry contracts and the SDMX codelists; the nightly run reads them, and
rewrites a source's raw suite itself when the source's contract no longer implies it (a field added,
removed, retyped or made optional): the contract is the truth, the suite follows without a manual
scaffold, and the rewritten file shows in review like any other change.
The data source's connection string is ``${LNOB_GX_WAREHOUSE_URL}``, substituted from the
environment at run time, so no credentials are committed. Every expectation runs as SQL in the
warehouse, never on a DataFrame. The raw gate of a source runs once per night over every delivery
of the source that has not passed it yet (a query asset reading the delivery ledger): one GX
context and one scan per source, however many pages an API fetch brought. Only when that fails is
each of those deliveries validated alone (a ``_delivery_id`` partition), to hold back the ones
that fail and let the others through.
"""

from __future__ import annotations

import csv
import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from lnob.config import AUDIT_SCHEMA, RAW_SCHEMA, Settings, settings
from lnob.registry import Registry

log = logging.getLogger(__name__)

DATASOURCE = "warehouse"
URL_VARIABLE = "LNOB_GX_WAREHOUSE_URL"
MART_TABLES = [
    "fct_sdg_observation",
    "fct_lnob_gap",
    "fct_evidence_map",
    "fct_voices",
    "dim_indicator",
    "dim_geography",
    "dim_partner",
]
#: Marts that accumulate (testimonies are added after review, or withdrawn one by one): their row
#: count may grow freely and may be zero (nothing approved yet); every other mart stays within the band.
ACCUMULATING = {"fct_voices"}
PERSONS_TABLE = ("intermediate", "int_persons_harmonised")
#: The persons the mart gate validates: those harmonised since the last night whose persons passed
#: (see :func:`persons_changed_query`).
PERSONS_CHANGED = "persons__changed"
SDMX_DIMENSIONS = [
    "freq",
    "reporting_type",
    "series",
    "ref_area",
    "sex",
    "age",
    "urbanisation",
    "income_wealth_quantile",
    "education_lev",
    "occupation",
    "cust_breakdown",
    "composite_breakdown",
    "disability_status",
    "activity",
    "product",
    "time_period",
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
            what = f' "{f["description"]}"' if f.get("description") else ""
            lines.append(
                f"  - {f['table']}: {f['expectation']}({f['column'] or ''}){what} "
                f"unexpected={f['unexpected_count']} sample={f['sample']}"
            )
        return "\n".join(lines)


def _one(cur) -> Any:
    """The value of a query that returns one row of one column (an aggregate, ``to_regclass``)."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("the query returned no row")
    return row[0]


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
    if codelist == "SERIES":  # the SDG series, the partnership's own and the declared national ones
        codes = []
        for folder, name in (
            ("reference", "sdg_series.csv"),
            ("lnob", "lnob_series.csv"),
            ("lnob", "lnob_national_series.csv"),
        ):
            with (cfg.dbt_project_dir / "seeds" / folder / name).open(encoding="utf-8") as fh:
                codes += [r["series_code"] for r in csv.DictReader(fh)]
        return sorted(set(codes))
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


def _signature(expectations) -> list[tuple[str, str]]:
    """What a suite checks, without the ids and metadata GX adds: compare two suites by this."""
    import json

    return sorted(
        (e.expectation_type, json.dumps(e.configuration.kwargs, sort_keys=True, default=str))
        for e in expectations
    )


def raw_suite_is_current(ctx, registry: Registry, source_id: str) -> bool:
    """Whether the stored raw suite (and its checkpoint) of a source is what its contract implies."""
    name = f"raw__{source_id}"
    try:
        suite = ctx.suites.get(name)
        checkpoints = [ctx.checkpoints.get(name), ctx.checkpoints.get(pending_name(source_id))]
        query = ctx.data_sources.get(DATASOURCE).get_asset(pending_name(source_id)).query
    except Exception:  # noqa: BLE001 - GX raises DataContextError (or a store error) when absent
        return False
    if any(c.actions for c in checkpoints) or query != pending_query(registry, source_id):
        return False  # written by an earlier version (Data Docs rebuilt per delivery) or another table
    return _signature(suite.expectations) == _signature(raw_expectations(registry, source_id))


def pending_name(source_id: str) -> str:
    """The checkpoint, validation definition and query asset of a source's new deliveries."""
    return f"raw__{source_id}__pending"


def pending_query(registry: Registry, source_id: str) -> str:
    """Every row of the source's loaded deliveries that have not passed their raw gate yet."""
    from lnob.config import META_SCHEMA

    table = registry.source(source_id).raw_table
    return (
        f'select r.* from {RAW_SCHEMA}."{table}" as r where r._delivery_id in ('
        f"select delivery_id from {META_SCHEMA}.delivery_ledger where source_id = '{source_id}' "
        "and status = 'loaded' and gated_at is null)"
    )


def _row_band(table: str):
    """Row count within the band around the last published night's (parameters set at run time)."""
    import great_expectations as gx

    return gx.expectations.ExpectTableRowCountToBeBetween(
        min_value={"$PARAMETER": f"rows_min__{table}"},
        max_value={"$PARAMETER": f"rows_max__{table}"},
        description=f"{table}: row count within LNOB_ROW_COUNT_BAND of the last published night",
    )


def _unexpected(description: str, query: str):
    import great_expectations as gx

    return gx.expectations.UnexpectedRowsExpectation(description=description, unexpected_rows_query=query)


def _percent_and_bounds(value: str, lower: str, upper: str, where: str = "true") -> list:
    return [
        _unexpected(
            f"{value} is a percentage in 0..100",
            f"select * from {{batch}} where {where} and ({value} < 0 or {value} > 100)",
        ),
        _unexpected(
            f"{lower} <= {value} <= {upper} where given",
            f"select * from {{batch}} where {where} and {value} is not null and "
            f"({lower} > {value} or {upper} < {value})",
        ),
    ]


# Washington Group answers after recoding: 1 no difficulty .. 4 cannot do at all.
WG_DOMAINS = ["wg_seeing", "wg_hearing", "wg_walking", "wg_remembering", "wg_selfcare", "wg_communicating"]


def persons_expectations(cfg: Settings) -> list:
    """The harmonised persons: codes valid, ages plausible, Washington Group answers in range."""
    import great_expectations as gx

    ex = gx.expectations
    schema, table = PERSONS_TABLE
    out: list = [
        # the batch is tonight's persons (persons_changed_query), which may be none: the table is not
        _unexpected(
            "there are harmonised persons",
            f"select 1 as no_person where not exists (select 1 from {schema}.{table}) "
            "and not exists (select 1 from {batch})",
        ),
        ex.ExpectCompoundColumnsToBeUnique(column_list=["source_id", "record_key"]),
        ex.ExpectColumnValuesToNotBeNull(column="person_pid"),
        ex.ExpectColumnValuesToNotBeNull(column="country_m49"),
        ex.ExpectColumnValuesToBeInSet(column="country_m49", value_set=_codes(cfg, "CL_AREA")),
        ex.ExpectColumnValuesToBeInSet(column="area_code", value_set=_codes(cfg, "CL_AREA")),
        ex.ExpectColumnValuesToBeInSet(column="sex", value_set=["F", "M", "_O", "_U"]),
        ex.ExpectColumnValuesToBeInSet(column="urbanisation", value_set=["U", "R", "_U"]),
        ex.ExpectColumnValuesToBeInSet(column="age_group", value_set=_codes(cfg, "CL_AGE")),
        ex.ExpectColumnValuesToBeInSet(column="disability_status", value_set=["PD", "PWD"]),
        ex.ExpectColumnValuesToBeInSet(column="migrant_status", value_set=["MS_MIGRANT", "MS_NOMIGRANT"]),
        ex.ExpectColumnValuesToNotBeNull(column="age"),
        ex.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=110),
        ex.ExpectColumnValuesToBeBetween(column="survey_weight", min_value=0, strict_min=True),
        _unexpected(
            "the Washington Group questions apply from age 5: no disability status below it",
            "select * from {batch} where age < 5 and disability_status is not null",
        ),
        _unexpected(
            "a person with a domain answered 'a lot of difficulty' or 'cannot do at all' is PD",
            "select * from {batch} where disability_status is distinct from 'PD' and age >= 5 and ("
            + " or ".join(f"{d} in (3, 4)" for d in WG_DOMAINS)
            + ")",
        ),
    ]
    out += [ex.ExpectColumnValuesToBeInSet(column=d, value_set=[1, 2, 3, 4]) for d in WG_DOMAINS]
    return out


def _digest(expectations) -> str:
    import hashlib

    return hashlib.sha256(repr(_signature(expectations)).encode()).hexdigest()[:16]


def persons_changed_query(cfg: Settings) -> str:
    """The harmonised persons not validated yet: every row harmonised after the watermark of the
    last night whose persons passed (``lnob_meta.persons_gate``, :func:`persons_validated`).

    Sound because a row of the incremental persons model changes only by being harmonised again
    (delete+insert on its key, with a new ``harmonised_at``). The watermark holds only for the
    same relation (a full refresh creates a new table: its oid differs) and the same suite (a
    changed codelist or rule: its digest differs); otherwise every row is validated. A row from
    before ``harmonised_at`` existed is validated every night."""
    schema, table = PERSONS_TABLE
    from lnob.config import META_SCHEMA

    return (
        f"select p.* from {schema}.{table} as p where p.harmonised_at is null or p.harmonised_at > coalesce(("
        f"select w.validated_through from {META_SCHEMA}.persons_gate as w "
        f"where w.relation_oid = '{schema}.{table}'::regclass::oid "
        f"and w.suite_digest = '{_digest(persons_expectations(cfg))}'), '-infinity'::timestamptz)"
    )


def persons_validated(warehouse_url: str, through, cfg: Settings) -> None:
    """Record that every person harmonised up to ``through`` passed the persons suite."""
    import psycopg2

    from lnob.config import META_SCHEMA

    schema, table = PERSONS_TABLE
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"delete from {META_SCHEMA}.persons_gate")
            cur.execute(
                f"""insert into {META_SCHEMA}.persons_gate (relation_oid, suite_digest, validated_through)
                            values ('{schema}.{table}'::regclass::oid, %s, %s)""",
                (_digest(persons_expectations(cfg)), through),
            )
    finally:
        conn.close()


def persons_high_water(warehouse_url: str):
    """The latest ``harmonised_at`` of the persons (None when there is none)."""
    import psycopg2

    schema, table = PERSONS_TABLE
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"select max(harmonised_at) from {schema}.{table}")
            return _one(cur)
    finally:
        conn.close()


def mart_expectations(cfg: Settings, table: str) -> list:
    builders = {
        "fct_sdg_observation": _fct_expectations,
        "fct_lnob_gap": _gap_expectations,
        "fct_evidence_map": _evidence_map_expectations,
        "fct_voices": _voices_expectations,
        "dim_indicator": _dim_indicator_expectations,
        "dim_geography": _dim_geography_expectations,
        "dim_partner": _dim_partner_expectations,
    }
    return [_row_band(table), *builders[table](cfg)]


def _gap_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectCompoundColumnsToBeUnique(
            column_list=["series", "ref_area", "time_period", "group_dimension", "group_code"]
        ),
        ex.ExpectColumnValuesToBeInSet(column="series", value_set=_codes(cfg, "SERIES")),
        ex.ExpectColumnValuesToBeInSet(column="ref_area", value_set=_codes(cfg, "CL_AREA")),
        ex.ExpectColumnValuesToBeBetween(column="group_n", min_value={"$PARAMETER": "min_cell"}),
        ex.ExpectColumnValuesToBeBetween(column="rest_n", min_value={"$PARAMETER": "min_cell"}),
        *_percent_and_bounds("group_value", "group_lower_bound", "group_upper_bound"),
        *_percent_and_bounds("rest_value", "rest_lower_bound", "rest_upper_bound"),
        _unexpected(
            "a suppressed group shows no value",
            "select * from {batch} where group_obs_status = 'Q' "
            "and (group_value is not null or group_n is not null)",
        ),
        _unexpected(
            "difference_vs_rest = group_value - rest_value (to rounding)",
            "select * from {batch} where abs(difference_vs_rest - (group_value - rest_value)) > 0.011",
        ),
    ]


def _evidence_map_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectCompoundColumnsToBeUnique(
            column_list=["series", "country_m49", "time_period", "group_dimension", "group_code"]
        ),
        ex.ExpectColumnValuesToBeInSet(column="series", value_set=_codes(cfg, "SERIES")),
        ex.ExpectColumnValuesToBeInSet(column="country_m49", value_set=_codes(cfg, "CL_AREA")),
        ex.ExpectColumnValuesToBeBetween(column="sample_size", min_value={"$PARAMETER": "min_cell"}),
        _unexpected(
            "a gap is where nobody holds data, an overlap where two or more do",
            "select * from {batch} where is_gap <> (n_community_partners = 0 and official_partners is null) "
            "or (is_overlap and n_community_partners + coalesce(array_length("
            "string_to_array(official_partners, ';'), 1), 0) < 2)",
        ),
    ]


# What a published testimony must not contain (the scrubbing in staging removes these).
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
PHONE = r"\+?[0-9][0-9 ().-]{7,}[0-9]"


def _voices_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeUnique(column="testimony_key"),
        ex.ExpectColumnValuesToNotBeNull(column="testimony_text"),
        ex.ExpectColumnValuesToBeInSet(column="country_m49", value_set=_codes(cfg, "CL_AREA")),
        ex.ExpectColumnValuesToNotMatchRegex(column="testimony_text", regex=EMAIL),
        ex.ExpectColumnValuesToNotMatchRegex(column="testimony_text", regex=PHONE),
    ]


def _dim_indicator_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectCompoundColumnsToBeUnique(column_list=["series_code", "indicator_code"]),
        ex.ExpectColumnValuesToBeInSet(column="series_code", value_set=_codes(cfg, "SERIES")),
    ]


def _dim_geography_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeUnique(column="ref_area"),
        ex.ExpectColumnValuesToBeInSet(column="ref_area", value_set=_codes(cfg, "CL_AREA")),
    ]


def _dim_partner_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeUnique(column="partner_id"),
        ex.ExpectColumnValuesToBeInSet(column="kind", value_set=["community", "official"]),
    ]


def _fct_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    out: list = [
        # Community and official observations may share an SDMX key; each is unique within its kind.
        ex.ExpectCompoundColumnsToBeUnique(column_list=["source_type", *SDMX_DIMENSIONS]),
    ]
    for column, codelist in [
        ("freq", "CL_FREQ"),
        ("reporting_type", "CL_REPORTING_TYPE"),
        ("series", "SERIES"),
        ("ref_area", "CL_AREA"),
        ("sex", "CL_SEX"),
        ("age", "CL_AGE"),
        ("urbanisation", "CL_URBANISATION"),
        ("income_wealth_quantile", "CL_QUANTILE"),
        ("education_lev", "CL_EDUCATION_LEV"),
        ("occupation", "CL_OCCUPATION"),
        ("cust_breakdown", "CL_CUST_BREAKDOWN"),
        ("composite_breakdown", "CL_COMP_BREAKDOWN"),
        ("disability_status", "CL_DISABILITY"),
        ("activity", "CL_ACTIVITY"),
        ("product", "CL_PRODUCT"),
        ("obs_status", "CL_OBS_STATUS"),
        ("unit_measure", "CL_UNIT_MEASURE"),
        ("unit_mult", "CL_UNIT_MULT"),
        ("nature", "CL_NATURE"),
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
        _unexpected(
            "breakdowns consistent with totals: no community cell rests on more respondents than "
            "its series' total for the same area and year",
            _BREAKDOWN_ABOVE_TOTAL,
        ),
        *[
            _unexpected(
                f"breakdowns consistent with totals: the {dim} categories of a community total add up "
                "to no more respondents than the total",
                _partition_query(dim),
            )
            for dim in ("sex", "urbanisation", "disability_status")
        ],
    ]
    return out


_BREAKDOWN_DIMS = ["sex", "urbanisation", "cust_breakdown", "composite_breakdown", "disability_status"]
_ANY_BREAKDOWN = " or ".join(f"b.{d} <> '_T'" for d in _BREAKDOWN_DIMS)
# Published counts carry the cell key perturbation (at most D per count, the ptable's largest noise):
# sums agree within D per cell summed.
_D = "(select coalesce(max(abs(noise)), 0) from reference.lnob_ptable)"
# A breakdown cell against its total: the same series, area, year and age (a breakdown carries its
# series' universe age) with every breakdown dimension at `_T`. A suppressed total (n null) is
# compared with nothing.
_BREAKDOWN_ABOVE_TOTAL = (
    "select b.* from {batch} as b join {batch} as t on t.source_type = 'community' "
    "and t.series = b.series and t.ref_area = b.ref_area and t.time_period = b.time_period and t.age = b.age and "
    + " and ".join(f"t.{d} = '_T'" for d in _BREAKDOWN_DIMS)
    + f" where b.source_type = 'community' and ({_ANY_BREAKDOWN}) and b.n > t.n + 2 * {_D}"
)


def _partition_query(dim: str) -> str:
    """Community totals whose categories of ``dim`` (all else total, same age) hold more
    respondents than the total itself (unknowns form no category, so the sum may be smaller),
    beyond the perturbation of the counts summed."""
    others = [d for d in _BREAKDOWN_DIMS if d != dim]
    b_others = " and ".join(f"b.{d} = '_T'" for d in others)
    t_others = " and ".join(f"t.{d} = '_T'" for d in others)
    return (
        "select b.series, b.ref_area, b.time_period, b.age, sum(b.n) as categories_n, max(t.n) as total_n "
        "from {batch} as b join {batch} as t on t.source_type = 'community' and t.series = b.series "
        "and t.ref_area = b.ref_area and t.time_period = b.time_period and t.age = b.age "
        f"and t.{dim} = '_T' and {t_others} "
        f"where b.source_type = 'community' and b.{dim} <> '_T' and {b_others} "
        f"group by 1, 2, 3, 4 having sum(b.n) > max(t.n) + (count(*) + 1) * {_D}"
    )


def _datasource(ctx):
    """The warehouse datasource, added once. Never ``add_or_update``: that replaces the datasource
    with one holding no assets, and every other suite's validation definition then points at an
    asset that no longer exists (one source's suite rewritten at night broke the mart gate)."""
    try:
        return ctx.data_sources.get(DATASOURCE)
    except Exception:  # noqa: BLE001 - GX raises KeyError/ValueError/DataContextError when absent
        return ctx.data_sources.add_postgres(DATASOURCE, connection_string=f"${{{URL_VARIABLE}}}")


def _asset(ds, name: str, table: str, schema: str):
    try:
        return ds.get_asset(name)
    except LookupError:
        return ds.add_table_asset(name, table_name=table, schema_name=schema)


def _replace(ctx, suite_name: str, expectations: list, batch_definition, checkpoint_name: str | None):
    """(Re)write one suite and its validation definition (and checkpoint, when named)."""
    import great_expectations as gx

    stores = [(ctx.validation_definitions, suite_name), (ctx.suites, suite_name)]
    if checkpoint_name:
        stores.insert(0, (ctx.checkpoints, checkpoint_name))
    for store, name in stores:
        try:
            store.delete(name)
        except Exception:  # noqa: BLE001 - absent on first scaffold
            pass
    suite = ctx.suites.add(gx.ExpectationSuite(name=suite_name, expectations=expectations))
    vd = ctx.validation_definitions.add(
        gx.ValidationDefinition(name=suite_name, data=batch_definition, suite=suite)
    )
    if checkpoint_name:
        # No Data Docs action: rebuilding the site per source costs more than the validation; the
        # mart gate's checkpoint rebuilds it once a night with every result stored by then.
        ctx.checkpoints.add(
            gx.Checkpoint(
                name=checkpoint_name,
                validation_definitions=[vd],
                actions=[],
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
            )
        )
    return vd


def _scaffold_raw(ctx, ds, registry: Registry, source_id: str) -> str:
    """A source's raw suite, with two checkpoints: ``raw__<source>`` validates one delivery (a
    ``_delivery_id`` partition), ``raw__<source>__pending`` every delivery not gated yet at once."""
    import great_expectations as gx
    from great_expectations.core.partitioners import PartitionerColumnValue

    a = _asset(ds, f"raw__{source_id}", registry.source(source_id).raw_table, RAW_SCHEMA)
    try:
        bd = a.get_batch_definition("by_delivery")
    except KeyError:
        bd = a.add_batch_definition(
            "by_delivery",
            partitioner=PartitionerColumnValue(column_name="_delivery_id"),
            validate_partitioner=False,
        )
    pending = pending_name(source_id)
    for store in (ctx.checkpoints, ctx.validation_definitions):  # they refer to the suite rewritten next
        try:
            store.delete(pending)
        except Exception:  # noqa: BLE001 - absent on first scaffold
            pass
    vd = _replace(ctx, f"raw__{source_id}", raw_expectations(registry, source_id), bd, f"raw__{source_id}")
    query = pending_query(registry, source_id)
    try:
        qa = ds.get_asset(pending)
        if qa.query != query:
            ds.delete_asset(pending)
            raise LookupError(pending)
    except LookupError:
        qa = ds.add_query_asset(pending, query=query)
    try:
        qbd = qa.get_batch_definition("all_pending")
    except KeyError:
        qbd = qa.add_batch_definition_whole_table("all_pending")
    pvd = ctx.validation_definitions.add(gx.ValidationDefinition(name=pending, data=qbd, suite=vd.suite))
    ctx.checkpoints.add(
        gx.Checkpoint(
            name=pending,
            validation_definitions=[pvd],
            actions=[],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
    )
    return f"raw__{source_id}"


def _mart_suites(cfg: Settings) -> dict[str, list]:
    """Suite name -> expectations of the harmonised persons and of every mart. Their codelists
    come from the seeds, which follow the registry (areas, groups, declared national series)."""
    out = {f"persons__{PERSONS_TABLE[1]}": persons_expectations(cfg)}
    for table in MART_TABLES:
        out[f"marts__{table}"] = mart_expectations(cfg, table)
    return out


def mart_suites_are_current(ctx, cfg: Settings) -> bool:
    """Whether the stored mart suites check what the seeds imply now (a registry edit that adds an
    area, a group or a national series changes a codelist, and with it the suite)."""
    try:
        for name, expectations in _mart_suites(cfg).items():
            if _signature(ctx.suites.get(name).expectations) != _signature(expectations):
                return False
        if any(ctx.checkpoints.get(name).actions for name in ("marts", "marts_counts")):
            return False  # written by an earlier version, which rebuilt Data Docs per suite
        if ctx.data_sources.get(DATASOURCE).get_asset(PERSONS_CHANGED).query != persons_changed_query(cfg):
            return False  # an earlier version validated every person every night
    except Exception:  # noqa: BLE001 - GX raises DataContextError (or a store error) when absent
        return False
    return True


def _scaffold_marts(ctx, ds, cfg: Settings) -> list[str]:
    """The persons and mart suites, their validation definitions and the two mart checkpoints."""
    import great_expectations as gx

    written: list[str] = []
    mart_vds = []
    schema, table = PERSONS_TABLE
    query = persons_changed_query(cfg)
    try:
        qa = ds.get_asset(PERSONS_CHANGED)
        if qa.query != query:
            ds.delete_asset(PERSONS_CHANGED)
            raise LookupError(PERSONS_CHANGED)
    except LookupError:
        qa = ds.add_query_asset(PERSONS_CHANGED, query=query)
    try:
        bd = qa.get_batch_definition("not_validated_yet")
    except KeyError:
        bd = qa.add_batch_definition_whole_table("not_validated_yet")
    mart_vds.append(_replace(ctx, f"persons__{table}", persons_expectations(cfg), bd, None))
    for table in MART_TABLES:
        a = _asset(ds, f"audit__{table}", table, AUDIT_SCHEMA)
        try:
            bd = a.get_batch_definition("whole_table")
        except KeyError:
            bd = a.add_batch_definition_whole_table("whole_table")
        mart_vds.append(_replace(ctx, f"marts__{table}", mart_expectations(cfg, table), bd, None))
    # `marts_counts` counts unexpected rows only (far fewer queries on a large table); the
    # gate runs `marts`, with samples of every failure, only when it fails.
    for name, result_format in (
        ("marts", {"result_format": "SUMMARY", "partial_unexpected_count": 5}),
        ("marts_counts", {"result_format": "BOOLEAN_ONLY"}),
    ):
        try:
            ctx.checkpoints.delete(name)
        except Exception:  # noqa: BLE001
            pass
        # No Data Docs action (it rebuilds the site once per validation definition, eight times a
        # run): the gate builds the pages of tonight's results once (:func:`build_data_docs`).
        ctx.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=mart_vds,
                actions=[],
                result_format=result_format,
            )
        )
        written.append(name)
    try:  # an earlier version's asset of the whole persons table, which nothing refers to now
        ds.delete_asset(f"{schema}__{table}")
    except Exception:  # noqa: BLE001 - GX raises LookupError or a store error when absent
        pass
    return written


def scaffold(registry: Registry, warehouse_url: str, cfg: Settings | None = None) -> list[str]:
    """(Re)write the GX context files. Needs the raw and audit tables to exist (GX checks them)."""

    cfg = cfg or settings()
    _env(warehouse_url)
    written: list[str] = []
    with _context_lock(cfg):
        ctx = context(cfg)
        ds = _datasource(ctx)
        for source_id in sorted(registry.sources):
            written.append(_scaffold_raw(ctx, ds, registry, source_id))

        written += _scaffold_marts(ctx, ds, cfg)
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
            out.failed.append(
                {
                    "table": table,
                    "expectation": cfg.type,
                    "column": cfg.kwargs.get("column") or cfg.kwargs.get("column_list"),
                    "description": getattr(cfg, "description", None),
                    "unexpected_count": res.get("unexpected_count", res.get("observed_value")),
                    "sample": sample,
                    "exception": (r.exception_info or {}).get("exception_message")
                    if isinstance(r.exception_info, dict)
                    else None,
                }
            )
    return out


def row_count_parameters(warehouse_url: str, cfg: Settings) -> dict:
    """Each mart's row-count band around the last published night: [n(1-band), n(1+band)]; a mart
    with no published night yet only needs a row, an accumulating one only a floor."""
    import math

    import psycopg2

    from lnob.config import PUBLISHED_SCHEMA

    band = cfg.row_count_band
    params: dict = {}
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            for table in MART_TABLES:
                cur.execute("select to_regclass(%s)", (f"{PUBLISHED_SCHEMA}.{table}",))
                previous = None
                if _one(cur):
                    cur.execute(f"select count(*) from {PUBLISHED_SCHEMA}.{table}")
                    previous = _one(cur)
                if table in ACCUMULATING:
                    # testimonies are published one by one after review and leave one by one when
                    # consent is withdrawn: none approved yet, or all withdrawn, is a valid night
                    params[f"rows_min__{table}"], params[f"rows_max__{table}"] = 0, None
                elif not previous:
                    params[f"rows_min__{table}"], params[f"rows_max__{table}"] = 1, None
                else:
                    params[f"rows_min__{table}"] = max(1, math.floor(previous * (1 - band)))
                    params[f"rows_max__{table}"] = (
                        None if table in ACCUMULATING else math.ceil(previous * (1 + band))
                    )
    finally:
        conn.close()
    return params


def run_checkpoint(
    name: str,
    warehouse_url: str,
    batch_parameters: dict | None = None,
    cfg: Settings | None = None,
    write_if_missing=None,
    parameters: dict | None = None,
    is_current=None,
) -> GateResult:
    """Run one checkpoint; ``write_if_missing(ctx)`` writes it first when it does not exist, or
    when ``is_current(ctx)`` says the stored one is outdated."""
    cfg = cfg or settings()
    _env(warehouse_url)
    with _context_lock(cfg):
        ctx = context(cfg)
        if write_if_missing is not None and is_current is not None and not is_current(ctx):
            log.warning("GX checkpoint %s no longer matches its contract: rewriting it", name)
            write_if_missing(ctx)
        try:
            checkpoint = ctx.checkpoints.get(name)
        except Exception:  # noqa: BLE001 - GX raises DataContextError for a missing checkpoint
            if write_if_missing is None:
                raise
            log.info("no GX checkpoint %s yet: writing it", name)
            write_if_missing(ctx)
            checkpoint = ctx.checkpoints.get(name)
        result = checkpoint.run(
            batch_parameters=batch_parameters,
            expectation_parameters={"min_cell": cfg.min_cell, **(parameters or {})},
        )
    return _summarise(name, result)


def gate_raw(
    registry: Registry, source_id: str, delivery_id: int, warehouse_url: str, cfg: Settings | None = None
) -> GateResult:
    """The raw gate of one delivery. A source added to the registry since the suites were last
    scaffolded gets its suite written from its contract first, and a source whose contract changed
    gets it rewritten: adding a partner or changing a contract stays config.

    Failure samples go to the task log, the run log, the quarantine reason and the report: the
    values of identifier, pseudonymised and free-text fields are reduced to their shape, long
    texts too (:func:`lnob.masking.mask_sample`)."""
    return gate_raw_source(registry, source_id, {delivery_id: 0}, warehouse_url, cfg)[delivery_id]


def gate_raw_source(
    registry: Registry,
    source_id: str,
    pending: dict[int, int],
    warehouse_url: str,
    cfg: Settings | None = None,
) -> dict[int, GateResult]:
    """The raw gate of a source's new deliveries, ``pending`` (delivery id -> rows loaded: the
    ledger's loaded deliveries of the source not gated yet, which the pending query asset reads).

    One context and one validation over all of them; only when it fails is each validated alone,
    so that the result of every delivery is its own. A delivery with no rows is always validated
    alone (its row count is the expectation it fails). Samples are masked as in :func:`gate_raw`."""
    from lnob import masking

    cfg = cfg or settings()
    _env(warehouse_url)
    name = f"raw__{source_id}"
    alone = sorted(d for d, rows in pending.items() if not rows)
    together = sorted(d for d, rows in pending.items() if rows)
    results: dict[int, GateResult] = {}
    with _context_lock(cfg):
        ctx = context(cfg)
        if not raw_suite_is_current(ctx, registry, source_id):
            log.warning("GX checkpoints of %s no longer match its contract: rewriting them", source_id)
            _scaffold_raw(ctx, _datasource(ctx), registry, source_id)
        parameters = {"min_cell": cfg.min_cell}
        if len(together) > 1:
            merged = _summarise(
                name, ctx.checkpoints.get(pending_name(source_id)).run(expectation_parameters=parameters)
            )
            if merged.success:
                results = {
                    d: GateResult(gate=name, success=True, evaluated=merged.evaluated) for d in together
                }
            else:
                log.info(
                    "%s: the raw gate failed on %d deliveries together; validating each alone",
                    source_id,
                    len(together),
                )
                alone += together
        else:
            alone += together
        checkpoint = ctx.checkpoints.get(name)
        for delivery_id in sorted(alone):
            results[delivery_id] = _summarise(
                name,
                checkpoint.run(
                    batch_parameters={"_delivery_id": delivery_id}, expectation_parameters=parameters
                ),
            )
    sensitive = masking.sensitive_labels(registry.source(source_id))
    for result in results.values():
        for failure in result.failed:
            column = failure.get("column")
            failure["sample"] = masking.mask_sample(
                failure.get("sample"), isinstance(column, str) and column in sensitive, sensitive
            )
    return results


def gate_marts(warehouse_url: str, cfg: Settings | None = None) -> GateResult:
    """The harmonised persons and every mart in the audit schema, against their suites; the row
    counts against the last published night; and the disclosure audit (no suppressed cell
    narrower than the protection)."""
    from lnob import disclosure

    cfg = cfg or settings()
    parameters = row_count_parameters(warehouse_url, cfg)
    # the disclosure audit (lnob.disclosure): linear attacks on every suppressed cell
    exposed, audit = disclosure.gate_failures(warehouse_url, cfg)
    log.info(audit.describe())
    rewrite = lambda ctx: _scaffold_marts(ctx, _datasource(ctx), cfg)  # noqa: E731
    through = persons_high_water(warehouse_url)  # what this validation covers (one night at a time)
    counts = run_checkpoint(
        "marts_counts",
        warehouse_url,
        None,
        cfg,
        parameters=parameters,
        write_if_missing=rewrite,
        is_current=lambda ctx: mart_suites_are_current(ctx, cfg),
    )
    if counts.success:
        result = GateResult(gate="marts", success=True, evaluated=counts.evaluated)
    else:  # name every failure with samples (the log, the run summary, Data Docs)
        result = run_checkpoint("marts", warehouse_url, None, cfg, parameters=parameters)
    result.evaluated += 1
    result.failed += exposed
    result.success = result.success and not exposed
    if result.success and through is not None:
        persons_validated(warehouse_url, through, cfg)
    try:
        build_data_docs(warehouse_url, cfg)
    except Exception as exc:  # noqa: BLE001 - the pages are a view of the results, never the gate
        log.warning("GX Data Docs not rebuilt: %s", exc)
    return result


def build_data_docs(warehouse_url: str, cfg: Settings | None = None, hours: float = 24) -> int:
    """Render the Data Docs pages of the validation results of the last ``hours`` (tonight's raw and
    mart gates) and the index, once a night; returns how many results were rendered."""
    from datetime import datetime, timedelta

    cfg = cfg or settings()
    _env(warehouse_url)
    since = datetime.now(UTC) - timedelta(hours=hours)
    with _context_lock(cfg):
        ctx = context(cfg)
        recent = []
        for key in ctx.validation_results_store.list_keys():
            run_time = getattr(getattr(key, "run_id", None), "run_time", None)
            if (
                run_time is not None
                and (run_time if run_time.tzinfo else run_time.replace(tzinfo=UTC)) >= since
            ):
                recent.append(key)
        ctx.build_data_docs(resource_identifiers=recent)
        from lnob import data_docs  # the pages' CDN scripts and styles served from the site itself

        data_docs.make_offline(os.path.dirname(data_docs_index(cfg)))
    return len(recent)


def data_docs_index(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    return str(cfg.gx_project_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html")
