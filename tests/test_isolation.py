"""One partner's bad data never blocks or corrupts anyone else's (issue 12), through the real DAG
(`airflow dags test`) on the embedded warehouse, dbt and Great Expectations.

A first night publishes every source. On the second night three partners deliver something the
registry cannot place: a community survey with a sex spelling nobody mapped, an official SDMX file
with a series the SDG codelist does not hold, and an Open SDG file with an extra breakdown column
(`Marital status`) whose rows would otherwise be merged into the national totals. Each of those
deliveries is held back with its reason; every other partner publishes; the held-back partners'
published rows stay as they were.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from helpers import clean_warehouse, lnob
from lnob.platform.config import settings
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT_1 = "2026-10-05"
NIGHT_2 = "2026-10-06"
HELD = {
    "aavn_household_survey": "actionaid_vietnam",
    "knbs_sdg_sdmx": "knbs_kenya",
    "statcan_open_sdg": "statcan_canada",
}


def _dags_test(night: str):
    return lnob(
        "airflow", "dags", "test", "lnob_nightly", night, timeout=1200, env={"LNOB_TASK_RETRIES": "0"}
    )


def _summary(night: str) -> dict:
    return json.loads((settings().reports_dir / night / "summary.json").read_text())


def _published(db, partner: str | None = None) -> dict:
    """key -> (value, n, status) of every published observation (of one partner's rows)."""
    with db.cursor() as cur:
        cur.execute(
            """select partners, series, ref_area, time_period, sex, age, urbanisation,
                              cust_breakdown, composite_breakdown, disability_status,
                              obs_value, n, obs_status
                       from marts.fct_sdg_observation
                       where %(p)s::text is null or partners = %(p)s""",
            {"p": partner},
        )
        return {r[:10]: r[10:] for r in cur.fetchall()}


def _add_marital_status(path: Path) -> None:
    """An Open SDG file as national platforms really publish them: one more disaggregation column,
    its sub-group rows beside the total rows (a blank cell is the total)."""
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    header = [*list(rows[0])[:-1], "Marital status", "Value"]
    out = io.StringIO()
    writer = csv.DictWriter(out, header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({**row, "Marital status": ""})
        if not row["Geography"] and not row["Population group"]:
            writer.writerow({**row, "Marital status": "Married", "Value": "8.3"})
    path.write_text(out.getvalue(), encoding="utf-8")


@pytest.fixture(scope="module")
def nights(warehouse_url):
    import psycopg2

    clean_warehouse(warehouse_url, landing=True)
    landing = settings().landing_dir
    sample.generate(landing, persons=1500, seed=3, day=date.fromisoformat(NIGHT_1))
    first = _dags_test(NIGHT_1)
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-3000:]
    assert _summary(NIGHT_1)["held_back"] == [], _summary(NIGHT_1)["held_back"]
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    before = _published(conn)

    files = {
        p.name: p for p in sample.generate(landing, persons=1500, seed=4, day=date.fromisoformat(NIGHT_2))
    }
    vietnam = files[f"household_survey_{NIGHT_2}.csv"]
    vietnam.write_text(
        vietnam.read_text(encoding="utf-8-sig").replace(",female,", ",F-2,"), encoding="utf-8-sig"
    )
    kenya = files["KNBS_SDG_2026Q4.xml"]
    kenya.write_text(
        kenya.read_text(encoding="utf-8").replace(
            'id="SERIES" value="SH_H2O_SAFE"', 'id="SERIES" value="SH_H2O_SAFE_KE"', 1
        ),
        encoding="utf-8",
    )
    _add_marital_status(files["indicator_6-1-1.csv"])
    second = _dags_test(NIGHT_2)
    yield {"first": first, "second": second, "before": before, "db": conn}
    conn.close()


def test_the_other_partners_publish(nights):
    second = nights["second"]
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]
    s = _summary(NIGHT_2)
    assert s["published_tonight"] and s["complete"], s["problems"]
    after = _published(nights["db"])
    before = nights["before"]
    # Every partner that delivered well tonight has new figures in the marts.
    for partner in ("wnta_india", "actionaid_kenya", "brac_bangladesh", "vso_nepal"):
        mine_before = {k: v for k, v in before.items() if partner in k[0]}
        mine_after = {k: v for k, v in after.items() if partner in k[0]}
        assert mine_after and mine_after != mine_before, partner
    assert not [k for k in after if any("UNMAPPED" in str(x) for x in k)]


def test_each_bad_delivery_is_held_back_with_its_reason(nights):
    s = _summary(NIGHT_2)
    held = {h["source"]: h for h in s["held_back"]}
    assert set(held) == set(HELD), [
        (h["source"], h["file"], h["why"]) for h in s["held_back"] if h["source"] not in HELD
    ]
    why = {source: " ".join(h["why"]) for source, h in held.items()}
    assert "column sex" in why["aavn_household_survey"] and "UNMAPPED:F-2" in why["aavn_household_survey"]
    assert "column series" in why["knbs_sdg_sdmx"] and "SH_H2O_SAFE_KE" in why["knbs_sdg_sdmx"]
    assert "unmapped_column column Marital status" in why["statcan_open_sdg"]
    text = (settings().reports_dir / NIGHT_2 / "summary.txt").read_text()
    assert "Held back tonight" in text and "SH_H2O_SAFE_KE" in text
    with nights["db"].cursor() as cur:
        cur.execute(
            """select source_id, status, reason from lnob_meta.delivery_ledger
                       where delivery_date = %s and source_id = any(%s)""",
            (NIGHT_2, list(HELD)),
        )
        rows = cur.fetchall()
    assert {r[0] for r in rows} == set(HELD)
    for source_id, status, reason in rows:
        assert status == "quarantined" and reason["kind"] == "held_back", (source_id, status, reason)
        assert reason["partner"] == HELD[source_id] and reason["problems"]
        cur = nights["db"].cursor()
        cur.execute(f"select count(*) from raw.{source_id} where _delivery_date = %s", (NIGHT_2,))
        assert cur.fetchone()[0] == 0, source_id


def test_the_report_shows_them_per_partner(nights):
    """The run report's data quality per partner: each held-back partner flagged with its held-back
    delivery, Vietnam's unmapped spelling named with its column."""
    import re

    html = (settings().reports_dir / NIGHT_2 / "report.html").read_text()
    rows = dict(re.findall(r"<tr class='partner-quality[^']*' data-partner='([^']+)'(.*?)</tr>", html))
    for partner in set(HELD.values()):
        held = re.search(r"data-held-back='(\d+)'", rows[partner])
        assert held and int(held[1]) >= 1, partner
    vietnam = rows["actionaid_vietnam"]
    assert re.search(r"data-unmapped='[1-9]", vietnam) and "<code>sex</code>" in vietnam and "F-2" in vietnam
    assert "data-held-back='0'" in rows["wnta_india"] and "data-unmapped='0'" in rows["wnta_india"]


def test_held_back_partners_keep_what_they_had_published(nights):
    before, after = nights["before"], _published(nights["db"])
    for partner in HELD.values():
        mine_before = {k: v for k, v in before.items() if k[0] == partner}
        mine_after = {k: v for k, v in after.items() if k[0] == partner}
        assert mine_before and mine_after == mine_before, partner


def test_no_total_is_taken_from_a_sub_group_row(nights):
    """Canada's national totals are the file's total rows, never the 8.3 of a `Married` row."""
    with nights["db"].cursor() as cur:
        cur.execute("""select count(*), count(*) filter (where obs_value = 8.3) from marts.fct_sdg_observation
                       where partners = 'statcan_canada' and ref_area = '124' and cust_breakdown = '_T'""")
        total, wrong = cur.fetchone()
    assert total > 0 and wrong == 0


@pytest.mark.unit
def test_a_merged_not_null_test_names_its_failing_columns():
    """The staging models' columns that must be set are tested together (one `not_null_columns`
    test per model, one scan); its failing rows name their column, and the problem held back names
    it as a per-column test's name did."""
    from lnob.quality import isolation

    model = "model.lnob.stg_aavn_household_survey__persons"
    test = "test.lnob.not_null_stg_aavn_household_survey__persons"
    man = {
        "nodes": {
            test: {
                "resource_type": "test",
                "name": "not_null_stg_aavn_household_survey__persons",
                "column_name": None,
                "depends_on": {"nodes": [model]},
            }
        }
    }
    models = {model: {"name": "stg_aavn_household_survey__persons", "source_id": "aavn_household_survey"}}
    result = {
        "node": test,
        "status": "fail",
        "message": "Got 3 results, configured to fail if != 0",
        "sample": ["column_name=age", "column_name=record_key", "column_name=age"],
        "failing_columns": ["age", "record_key"],  # lnob.transform.runner.failing_sample, every failing row
    }
    (problem,) = isolation.dbt_failures([result], man, models)
    assert (problem.source_id, problem.check, problem.column) == (
        "aavn_household_survey",
        "dbt_test",
        "age, record_key",
    )
    assert "not_null_stg_aavn_household_survey__persons failed" in problem.message
    # a per-column test (dbt's own not_null) keeps the column its node names
    man["nodes"][test]["column_name"] = "age"
    assert isolation.dbt_failures([{**result, "failing_columns": []}], man, models)[0].column == "age"


def test_the_failing_columns_come_from_every_failing_row_not_the_sample(db, warehouse_url):
    """The columns a merged not-null test fails in are read from all its failing rows: the sample
    shows five rows, and a column whose only null is the sixth is still named."""
    from lnob.transform import runner

    with db.cursor() as cur:
        cur.execute("drop table if exists public.t_failing_columns")
        cur.execute("create table public.t_failing_columns (age int, record_key text)")
        cur.execute("insert into public.t_failing_columns select null, 'k' from generate_series(1, 7)")
        cur.execute("insert into public.t_failing_columns values (30, null)")
    code = """with failing as (select age, record_key from public.t_failing_columns
                                where age is null or record_key is null)
              select nulls.column_name from failing
              cross join lateral (values ('age', failing.age is null),
                                         ('record_key', failing.record_key is null)) as nulls (column_name, is_null)
              where nulls.is_null"""
    try:
        sample, _, columns = runner.failing_sample(
            {"node": "test.lnob.not_null_t", "compiled_code": code}, warehouse_url
        )
    finally:
        with db.cursor() as cur:
            cur.execute("drop table public.t_failing_columns")
    assert len(sample) == 5 and all(row == "column_name=age" for row in sample), sample
    assert columns == ["age", "record_key"]
