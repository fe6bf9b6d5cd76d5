"""Great Expectations gates: the raw gate per delivery and the mart gate on the audit schema.

The GX file Data Context lives under ``expectations/gx``: suites, validation definitions and
checkpoints are committed JSON files that a reviewer reads like code. ``lnob gates scaffold``
(re)writes them from the registry contracts and the gates' rules; the nightly run reads them, and
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

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from lnob.platform.config import AUDIT_SCHEMA, RAW_SCHEMA, STAGING_SCHEMA, Settings, settings
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

    from lnob.platform.warehouse import ConnInfo

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
    from lnob.platform.config import META_SCHEMA

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


def _percent_and_bounds(value: str, lower: str, upper: str) -> list[Rule]:
    return [
        Rule(value, "a percentage in 0..100", f"{value} < 0 or {value} > 100"),
        Rule(
            value,
            f"{lower} <= {value} <= {upper} where given",
            f"{value} is not null and ({lower} > {value} or {upper} < {value})",
        ),
    ]


# Washington Group answers after recoding: 1 no difficulty .. 4 cannot do at all.
WG_DOMAINS = ["wg_seeing", "wg_hearing", "wg_walking", "wg_remembering", "wg_selfcare", "wg_communicating"]


#: The extended SDMX codelists: one dbt model (stg_reference__sdmx_codelist, built with staging) that
#: dbt's in_codelist test, the SDMX staging, lnob.quality.isolation and the persons suite all read.
CODELIST_RELATION = f"{STAGING_SCHEMA}.stg_reference__sdmx_codelist"
#: The codelists the persons suite reads (their content is part of the persons watermark).
PERSONS_CODELISTS = ("CL_AGE", "CL_AREA")


def _in_codelist(column: str, codelist: str) -> str:
    """A row whose ``column`` is not a code of ``codelist`` (a null is no code, and no failure)."""
    return f"{column} not in (select code from {CODELIST_RELATION} where codelist_id = '{codelist}')"


@dataclass(frozen=True)
class Rule:
    """One rule of a table: ``condition`` holds for a row (of ``{batch}``) that breaks it."""

    column: str | None
    text: str
    condition: str


#: Marks the queries of :func:`_rules`: each returns one row per broken rule (column_name, rule,
#: failing_rows, example), which the gate reads back when it fails (:func:`explain_rules`).
RULES_MARK = "/* lnob rules: one row per broken rule */"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _rules(
    description: str,
    rules: list[Rule],
    grouped: list[tuple[Rule, str]] | None = None,
    example: str | None = None,
):
    """Several rules of one table as one expectation: the row rules in one scan (a count per rule),
    each grouped rule (a query of its own, e.g. a join of breakdowns to their totals) beside them.
    The query returns one row per broken rule, naming the rule, its column, how many rows break
    it and, where ``example`` says how, one of them (never for persons: no identifier leaves)."""
    ex = example or "null::text"
    parts = []
    if rules:
        counts = ", ".join(
            f"count(*) filter (where {r.condition}) as r{i}, min({ex}) filter (where {r.condition}) as e{i}"
            for i, r in enumerate(rules)
        )
        values = ", ".join(
            f"({_quote(r.column or '')}, {_quote(r.text)}, c.r{i}, c.e{i})" for i, r in enumerate(rules)
        )
        parts.append(
            f"select v.column_name, v.rule, v.failing_rows, v.example from (select {counts} from {{batch}}) as c, "
            f"lateral (values {values}) as v(column_name, rule, failing_rows, example) where v.failing_rows > 0"
        )
    for rule, query in grouped or []:
        parts.append(
            f"select {_quote(rule.column or '')}, {_quote(rule.text)}, count(*), min({ex}) "
            f"from ({query}) as g having count(*) > 0"
        )
    return _unexpected(description, RULES_MARK + " " + " union all ".join(parts))


def persons_expectations(cfg: Settings) -> list:
    """The harmonised persons: codes valid, ages plausible, Washington Group answers in range. The
    harmonised persons are validated here, incrementally (only tonight's: :func:`persons_changed_query`),
    and not by dbt tests, which would scan every person every night; their grain (source_id,
    record_key) is dbt's (grain_of_int_persons_harmonised). The rules run as one scan."""
    schema, table = PERSONS_TABLE
    domains = [Rule(d, "a Washington Group answer is 1..4", f"{d} not in (1, 2, 3, 4)") for d in WG_DOMAINS]
    return [
        # the batch is tonight's persons (persons_changed_query), which may be none: the table is not
        _unexpected(
            "there are harmonised persons",
            f"select 1 as no_person where not exists (select 1 from {schema}.{table}) "
            "and not exists (select 1 from {batch})",
        ),
        _rules(
            "tonight's harmonised persons: codes in their codelists, ages and weights plausible, "
            "Washington Group answers consistent",
            [
                Rule("person_pid", "not null", "person_pid is null"),
                Rule("country_m49", "not null", "country_m49 is null"),
                Rule("country_m49", "in CL_AREA", _in_codelist("country_m49", "CL_AREA")),
                Rule("area_code", "in CL_AREA", _in_codelist("area_code", "CL_AREA")),
                Rule("sex", "in F, M, _O, _U", "sex not in ('F', 'M', '_O', '_U')"),
                Rule("urbanisation", "in U, R, _U", "urbanisation not in ('U', 'R', '_U')"),
                Rule("age_group", "in CL_AGE", _in_codelist("age_group", "CL_AGE")),
                Rule("disability_status", "in PD, PWD", "disability_status not in ('PD', 'PWD')"),
                Rule(
                    "migrant_status",
                    "in MS_MIGRANT, MS_NOMIGRANT",
                    "migrant_status not in ('MS_MIGRANT', 'MS_NOMIGRANT')",
                ),
                Rule("age", "not null", "age is null"),
                Rule("age", "between 0 and 110", "age < 0 or age > 110"),
                Rule("survey_weight", "greater than 0", "survey_weight <= 0"),
                Rule(
                    "disability_status",
                    "the Washington Group questions apply from age 5: no disability status below it",
                    "age < 5 and disability_status is not null",
                ),
                Rule(
                    "disability_status",
                    "a person with a domain answered 'a lot of difficulty' or 'cannot do at all' is PD",
                    "disability_status is distinct from 'PD' and age >= 5 and ("
                    + " or ".join(f"{d} in (3, 4)" for d in WG_DOMAINS)
                    + ")",
                ),
                *domains,
            ],
        ),
    ]


def _digest(expectations) -> str:
    import hashlib

    return hashlib.sha256(repr(_signature(expectations)).encode()).hexdigest()[:16]


def _persons_digest_sql(cfg: Settings) -> str:
    """SQL for the digest of what the persons suite checks: its rules and the codes of the
    codelists it reads in the warehouse (a registry edit that removes an area revalidates everyone)."""
    lists = ", ".join(_quote(c) for c in PERSONS_CODELISTS)
    return (
        f"'{_digest(persons_expectations(cfg))}:' || (select md5(coalesce(string_agg("
        f"codelist_id || ' ' || code, ',' order by codelist_id, code), '')) from {CODELIST_RELATION} "
        f"where codelist_id in ({lists}))"
    )


def persons_changed_query(cfg: Settings) -> str:
    """The harmonised persons not validated yet: every row harmonised after the watermark of the
    last night whose persons passed (``lnob_meta.persons_gate``, :func:`persons_validated`).

    Sound because a row of the incremental persons model changes only by being harmonised again
    (delete+insert on its key, with a new ``harmonised_at``). The watermark holds only for the
    same relation (a full refresh creates a new table: its oid differs) and the same suite (a
    changed rule, or a changed codelist it reads: the digest covers both); otherwise every row
    is validated. A row from
    before ``harmonised_at`` existed is validated every night."""
    schema, table = PERSONS_TABLE
    from lnob.platform.config import META_SCHEMA

    return (
        f"select p.* from {schema}.{table} as p where p.harmonised_at is null or p.harmonised_at > coalesce(("
        f"select w.validated_through from {META_SCHEMA}.persons_gate as w "
        f"where w.relation_oid = '{schema}.{table}'::regclass::oid "
        f"and w.suite_digest = {_persons_digest_sql(cfg)}), '-infinity'::timestamptz)"
    )


def persons_validated(warehouse_url: str, through, cfg: Settings) -> None:
    """Record that every person harmonised up to ``through`` passed the persons suite."""
    import psycopg2

    from lnob.platform.config import META_SCHEMA

    schema, table = PERSONS_TABLE
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"delete from {META_SCHEMA}.persons_gate")
            cur.execute(
                f"""insert into {META_SCHEMA}.persons_gate (relation_oid, suite_digest, validated_through)
                            values ('{schema}.{table}'::regclass::oid, {_persons_digest_sql(cfg)}, %s)""",
                (through,),
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


# Keys (unique combinations), not-null, codelist membership and accepted values of the marts are
# dbt's tests (the mart gate runs them first: docs/adr/0008-one-owner-per-rule.md); the suites below
# hold what dbt does not check: ranges against the minimum cell, bounds, consistency between
# columns and between breakdowns and totals, and each mart's row count against the last night.
_OBSERVATION = "series || ' ' || ref_area || ' ' || time_period"


def _gap_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeBetween(column="group_n", min_value={"$PARAMETER": "min_cell"}),
        ex.ExpectColumnValuesToBeBetween(column="rest_n", min_value={"$PARAMETER": "min_cell"}),
        _rules(
            "fct_lnob_gap: percentages, bounds, suppression and differences consistent",
            [
                *_percent_and_bounds("group_value", "group_lower_bound", "group_upper_bound"),
                *_percent_and_bounds("rest_value", "rest_lower_bound", "rest_upper_bound"),
                Rule(
                    "group_value",
                    "a suppressed group shows no value",
                    "group_obs_status = 'Q' and (group_value is not null or group_n is not null)",
                ),
                Rule(
                    "difference_vs_rest",
                    "difference_vs_rest = group_value - rest_value (to rounding)",
                    "abs(difference_vs_rest - (group_value - rest_value)) > 0.011",
                ),
            ],
            example=f"{_OBSERVATION} || ' ' || group_code",
        ),
    ]


def _evidence_map_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeBetween(column="sample_size", min_value={"$PARAMETER": "min_cell"}),
        _rules(
            "fct_evidence_map: gaps and overlaps consistent with who holds data",
            [
                Rule(
                    "is_gap",
                    "a gap is where nobody holds data, an overlap where two or more do",
                    "is_gap <> (n_community_partners = 0 and official_partners is null) "
                    "or (is_overlap and n_community_partners + coalesce(array_length("
                    "string_to_array(official_partners, ';'), 1), 0) < 2)",
                )
            ],
            example="series || ' ' || country_m49 || ' ' || time_period || ' ' || group_code",
        ),
    ]


def _voices_expectations(cfg: Settings) -> list:
    # The key, not-null text and codes are dbt's tests; an identifier in a published testimony is
    # dbt's singular test assert_no_identifier_in_voices (e-mail, phone, id number, cued names and
    # the raw record's own names: more than a pattern here could see).
    return []


def _dim_indicator_expectations(cfg: Settings) -> list:
    return []  # key and codes: dbt (unique_combination, in_codelist SERIES)


def _dim_geography_expectations(cfg: Settings) -> list:
    return []  # key and codes: dbt (unique, in_codelist CL_AREA)


def _dim_partner_expectations(cfg: Settings) -> list:
    return []  # key and kinds: dbt (unique, accepted_values)


def _fct_expectations(cfg: Settings) -> list:
    import great_expectations as gx

    ex = gx.expectations
    return [
        # No published cell rests on fewer respondents than the minimum (suppressed cells have n null).
        ex.ExpectColumnValuesToBeBetween(column="n", min_value={"$PARAMETER": "min_cell"}),
        _rules(
            "fct_sdg_observation: values, intervals and suppression consistent; breakdowns within totals",
            [
                Rule(
                    "obs_value",
                    "percentages lie in 0..100",
                    "unit_measure = 'PT' and (obs_value < 0 or obs_value > 100)",
                ),
                Rule(
                    "lower_bound",
                    "every published community estimate carries its 95% interval",
                    "source_type = 'community' and obs_value is not null and "
                    "(lower_bound is null or upper_bound is null)",
                ),
                Rule(
                    "lower_bound",
                    "an interval, where given, contains the value",
                    "obs_value is not null and (lower_bound > obs_value or upper_bound < obs_value)",
                ),
                Rule(
                    "obs_status",
                    "a suppressed cell (Q) shows no value, bounds or n",
                    "obs_status = 'Q' and (obs_value is not null or lower_bound is not null "
                    "or upper_bound is not null or n is not null)",
                ),
            ],
            [
                (
                    Rule(
                        "n",
                        "breakdowns consistent with totals: no community cell rests on more respondents "
                        "than its series' total for the same area and year",
                        "",
                    ),
                    _BREAKDOWN_ABOVE_TOTAL,
                ),
                *[
                    (
                        Rule(
                            dim,
                            f"breakdowns consistent with totals: the {dim} categories of a community "
                            "total add up to no more respondents than the total",
                            "",
                        ),
                        _partition_query(dim),
                    )
                    for dim in ("sex", "urbanisation", "disability_status")
                ],
            ],
            example=_OBSERVATION,
        ),
    ]


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
    """Suite name -> expectations of the harmonised persons and of every mart. No suite holds a
    list of codes: the persons suite reads the extended codelists in the warehouse
    (:data:`CODELIST_RELATION`), and the marts' codes are dbt's tests (ADR 8)."""
    out = {f"persons__{PERSONS_TABLE[1]}": persons_expectations(cfg)}
    for table in MART_TABLES:
        out[f"marts__{table}"] = mart_expectations(cfg, table)
    return out


def mart_suites_are_current(ctx, cfg: Settings) -> bool:
    """Whether the stored mart suites check what the builders build now (a suite written by an
    earlier version, with other rules, is rewritten before it runs)."""
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
            query = cfg.kwargs.get("unexpected_rows_query")
            if isinstance(query, str) and query.startswith(RULES_MARK):
                out.failed[-1]["query"] = query  # read back rule by rule (explain_rules), then dropped
    return out


def _batch_relation(asset: str, cfg: Settings) -> str:
    """What ``{batch}`` stands for in a mart gate asset's queries."""
    if asset == PERSONS_CHANGED:
        return f"({persons_changed_query(cfg)}) as batch"
    return f'{AUDIT_SCHEMA}."{asset.removeprefix("audit__")}"'


def explain_rules(result: GateResult, warehouse_url: str, cfg: Settings) -> GateResult:
    """Each failed rules expectation (:func:`_rules`) as one failure per broken rule: which rule,
    which column, how many rows, one example. The query GX ran, run again on the same batch."""
    import psycopg2

    failed = []
    conn = None
    try:
        for f in result.failed:
            query = f.pop("query", None)
            if query is None:
                failed.append(f)
                continue
            if conn is None:
                conn = psycopg2.connect(warehouse_url)
            try:
                with conn.cursor() as cur:
                    cur.execute(query.replace("{batch}", _batch_relation(f["table"], cfg)))
                    rows = cur.fetchall()
            except psycopg2.Error as exc:  # the expectation itself failed to run: GX's message stands
                log.warning("rules of %s not read back: %s", f["table"], exc)
                rows = []
            conn.rollback()
            for column, rule, n, example in rows or [(None, None, f["unexpected_count"], None)]:
                failed.append(
                    {
                        **f,
                        "column": column or None,
                        "description": f"{rule} ({f['description']})" if rule else f["description"],
                        "unexpected_count": n,
                        "sample": [example] if example is not None else None,
                    }
                )
    finally:
        if conn is not None:
            conn.close()
    result.failed = failed
    return result


def row_count_parameters(warehouse_url: str, cfg: Settings) -> dict:
    """Each mart's row-count band around the last published night: [n(1-band), n(1+band)]; a mart
    with no published night yet only needs a row, an accumulating one only a floor."""
    import math

    import psycopg2

    from lnob.platform.config import PUBLISHED_SCHEMA

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
    texts too (:func:`lnob.transform.masking.mask_sample`)."""
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
    from lnob.transform import masking

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
            failure.pop("query", None)
            column = failure.get("column")
            failure["sample"] = masking.mask_sample(
                failure.get("sample"), isinstance(column, str) and column in sensitive, sensitive
            )
    return results


def gate_marts(warehouse_url: str, cfg: Settings | None = None) -> GateResult:
    """The harmonised persons and every mart in the audit schema, against their suites; the row
    counts against the last published night; and the disclosure audit (no suppressed cell
    narrower than the protection)."""
    from lnob.transform import disclosure

    cfg = cfg or settings()
    parameters = row_count_parameters(warehouse_url, cfg)
    # the disclosure audit (lnob.transform.disclosure): linear attacks on every suppressed cell
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
        result = explain_rules(
            run_checkpoint("marts", warehouse_url, None, cfg, parameters=parameters), warehouse_url, cfg
        )
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
    """Render the Data Docs pages of the validation results not rendered yet (those since the last
    rendering; the last ``hours`` on a site never rendered) and the index, once a night; returns
    how many results were rendered. Each page is rendered once: the results of earlier nights keep
    theirs, so a night's rendering does not grow with the nights kept."""
    from datetime import datetime, timedelta

    cfg = cfg or settings()
    _env(warehouse_url)
    marker = Path(data_docs_index(cfg)).parent / ".lnob_rendered_through"
    started = datetime.now(UTC)
    try:
        since = datetime.fromisoformat(marker.read_text().strip())
    except (OSError, ValueError):
        since = started - timedelta(hours=hours)
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
        from lnob.quality import data_docs  # the pages' CDN scripts and styles served from the site itself

        data_docs.make_offline(os.path.dirname(data_docs_index(cfg)), since=started.timestamp() - 1)
        # results written while this ran are rendered next time (``>=``: at most once more)
        marker.write_text(started.isoformat())
    return len(recent)


def data_docs_index(cfg: Settings | None = None) -> str:
    cfg = cfg or settings()
    return str(cfg.gx_project_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html")
