"""One owner per rule (docs/adr/0008-one-owner-per-rule.md): dbt owns keys, not-null, codelist
membership and accepted values of the marts; Great Expectations owns ranges, bounds, consistency
between columns and between breakdowns and totals, and the row-count band. One dbt model holds the
extended SDMX codelists.

One small night through the pipeline's stage functions (real dbt, GX and PostgreSQL), then the audit
schema is spoiled: one row breaking each rule GX no longer checks, and two rows breaking two rules
of the merged fact-table expectation. The mart gate must fail and say, for each, which rule and
which column: dbt's test names for the moved rules, the rule's own text and column for GX's.
"""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
from helpers import clean_warehouse
from lnob import pipeline
from lnob.platform.config import settings
from lnob.publish import sdmx_export
from lnob.quality import gates
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = "2026-10-12"
RUN_ID = f"test-gate-owners-{NIGHT}"


@pytest.fixture(scope="module")
def night(warehouse_url):
    """Loaded, gated and transformed (the audit schema built), not published."""
    clean_warehouse(warehouse_url, landing=True)
    day = date.fromisoformat(NIGHT)
    sample.generate(settings().landing_dir, persons=1500, seed=7, day=day)
    for delivery in pipeline.extract(warehouse_url, RUN_ID, day):
        pipeline.gate_raw(warehouse_url, RUN_ID, pipeline.load_raw(warehouse_url, RUN_ID, delivery))
    pipeline.transform_stage(warehouse_url, RUN_ID)
    return warehouse_url


def _one(cur, table: str, where: str, update: str) -> None:
    """Spoil one row of ``marts_audit.<table>`` matching ``where``."""
    cur.execute(
        f"update marts_audit.{table} set {update} where ctid = "
        f"(select ctid from marts_audit.{table} where {where} limit 1)"
    )
    assert cur.rowcount == 1, (table, where)


def test_the_extended_codelists_have_one_owner(night):
    """The model holds the DSD's codes and every extension the export declares; the persons suite
    and the isolation checks read the model (no list of codes in the committed suites)."""
    with psycopg2.connect(night) as conn, conn.cursor() as cur:
        cur.execute(f"select codelist_id, code, extension from {gates.CODELIST_RELATION}")
        rows = cur.fetchall()
    codes = {(c, k) for c, k, _ in rows}
    by_extension: dict[str, set] = {}
    for codelist, code, extension in rows:
        by_extension.setdefault(extension, set()).add((codelist, code))
    assert ("CL_SEX", "_T") in codes and ("CL_AREA", "50") in codes
    ext = sdmx_export.Extensions.from_seeds(settings().dbt_project_dir / "seeds")
    assert {("CL_AREA", a) for a in ext.areas} == by_extension["lnob_areas"]
    assert {("CL_CUST_BREAKDOWN", c) for c in ext.custom_breakdowns} == by_extension["lnob_custom_breakdowns"]
    assert {("SERIES", s) for s in ext.series} == {(c, k) for c, k in codes if c == "SERIES"}
    persons = gates.persons_expectations(settings())
    queries = " ".join(e.unexpected_rows_query for e in persons)
    assert gates.CODELIST_RELATION in queries
    assert not any("value_set" in e.configuration.kwargs for e in persons)


def test_a_row_breaking_each_rule_fails_the_mart_gate_naming_it(night):
    with psycopg2.connect(night) as conn, conn.cursor() as cur:
        fct = "fct_sdg_observation"
        # rules dbt owns (GX checked them too until ADR 8)
        _one(cur, fct, "source_type = 'official'", "freq = null")
        _one(cur, fct, "source_type = 'official' and freq is not null", "sex = 'XX'")
        cur.execute(
            f"insert into marts_audit.{fct} select * from marts_audit.{fct} "
            "where source_type = 'official' and freq is not null and sex <> 'XX' limit 1"
        )
        _one(cur, "fct_evidence_map", "true", "country_m49 = '999'")
        cur.execute("insert into marts_audit.dim_geography select * from marts_audit.dim_geography limit 1")
        _one(cur, "dim_partner", "true", "kind = 'informal'")
        # rules GX owns, in one merged expectation of the fact table
        _one(
            cur,
            fct,
            "unit_measure = 'PT' and obs_value is not null and source_type = 'community' "
            "and obs_status <> 'Q'",
            "obs_value = 150",
        )
        _one(cur, fct, "obs_status = 'Q'", "obs_value = 1")
    with pytest.raises(pipeline.GateFailed) as failed:
        pipeline.gate_marts(night, "test-gate-owners")
    message = str(failed.value)
    for dbt_test in (
        "not_null_fct_sdg_observation",  # one test for every not-null column of the model
        "in_codelist_fct_sdg_observation",  # one test for every coded column of the model
        "unique_combination_fct_sdg_observation",
        "in_codelist_fct_evidence_map",
        "unique_dim_geography_ref_area",
        "accepted_values_dim_partner_kind",
    ):
        assert dbt_test in message, (dbt_test, message[:3000])
    # ... naming the column that is null in its failing rows
    for column in ("freq", "sex", "country_m49"):
        assert f"column_name={column}" in message, (column, message[:3000])
    lines = message.splitlines()
    percent = [line for line in lines if "percentages lie in 0..100" in line]
    suppressed = [line for line in lines if "a suppressed cell (Q) shows no value" in line]
    assert percent and "(obs_value)" in percent[0] and "unexpected=1" in percent[0], message[-3000:]
    assert suppressed and "(obs_status)" in suppressed[0] and "unexpected=1" in suppressed[0]
    assert "fct_sdg_observation" in percent[0]
