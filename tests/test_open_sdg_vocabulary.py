"""Open SDG sources need no per-column declaration (issue 13): an Open SDG file in the shape
national platforms publish (fixture `tests/fixtures/open_sdg/indicator_16-1-1.csv`: four
disaggregation columns, quarters, two series told apart by Units, blank values explained by an
observation status, a province, a city region and a group of provinces) is read through the
registry's shared vocabulary and lands through a real night; every row is accounted for.
An unknown column and an unknown category hold the delivery back naming them; a blank value that
nothing explains quarantines the file naming the row."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from helpers import clean_warehouse, lnob
from lnob import registry
from lnob.ingest.load import _open_sdg_row
from lnob.platform.config import settings
from lnob.quality import isolation
from lnob.registry import vocabulary
from lnob_dev import sample

FIXTURE = Path(__file__).parent / "fixtures" / "open_sdg" / "indicator_16-1-1.csv"
NIGHT = "2026-10-05"
STAGING = "stg_statcan_open_sdg__observations"


def _rows() -> list[dict]:
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ---------------------------------------------------------------------------------------------
# The registry's vocabulary (no warehouse)
# ---------------------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_fixture_is_in_the_published_shape():
    header = list(_rows()[0])
    assert header[0] == "Year" and header[-1] == "Value" and "Series" not in header
    src = registry.load().source("statcan_open_sdg")
    fixed = {f.label for f in src.fields}
    known = vocabulary.known_columns(src.vocabulary, src.series)
    disaggregations = [
        h for h in header if h not in fixed and h.casefold() not in vocabulary.status_labels(src.vocabulary)
    ]
    assert disaggregations == ["Sex", "Age group", "Disability", "Indigenous identity", "Geography"]
    assert all(h.casefold() in known for h in disaggregations)
    assert {r["Year"] for r in _rows()} == {"2024 Q1", "2024 Q2"}
    assert {r["Units"] for r in _rows()} == {"Rate per 100,000 population", "Number"}


@pytest.mark.unit
def test_every_vocabulary_code_is_in_its_codelist_and_a_wrong_one_is_named(tmp_path):
    reg = registry.load()
    rows = reg.vocabulary_rows()
    assert ("statcan_open_sdg", "col:sex", "both sexes", "_T") in rows
    assert ("statcan_open_sdg", "col:disability", "persons with disabilities", "PD") in rows
    assert ("statcan_open_sdg", "area", "toronto, ontario", "CA_CMA535") in rows
    assert ("statcan_open_sdg", "series_by", "16.1.1", "units") in rows
    doc = yaml.safe_load(settings().registry_path.read_text())
    doc["vocabulary"]["columns"][0]["codes"]["intersex"] = "X"  # not in CL_SEX
    doc["vocabulary"]["columns"].append({"column": "Ethnic origin", "dimension": "ETHNICITY"})
    src = next(s for s in doc["sources"] if s["id"] == "statcan_open_sdg")
    src["vocabulary"] = [
        {
            "column": "Visible minority",
            "dimension": "CUST_BREAKDOWN",
            "codes": {"south asian": "NO_SUCH_GROUP"},
        }
    ]
    src["series"]["3.8.2"] = {"by": "Units"}
    path = tmp_path / "registry.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    with pytest.raises(registry.RegistryError) as failed:
        registry.load(path)
    text = str(failed.value)
    assert "vocabulary.columns[0].codes.intersex: 'X' is not a code of CL_SEX" in text
    assert "vocabulary.columns[14].dimension: 'ETHNICITY' is not one of" in text
    assert ".vocabulary[0].codes.south asian: 'NO_SUCH_GROUP' is not a group code" in text
    assert ".series.3.8.2.codes: missing (required with `by`)" in text


@pytest.mark.unit
def test_a_source_extends_the_shared_vocabulary(tmp_path):
    doc = yaml.safe_load(settings().registry_path.read_text())
    src = next(s for s in doc["sources"] if s["id"] == "statcan_open_sdg")
    src["vocabulary"] = [
        {"column": "Sex", "codes": {"femmes": "F"}, "dimension": "SEX"},
        {"column": "Marital status", "dimension": "CUST_BREAKDOWN", "totals": ["All"], "codes": {}},
    ]
    path = tmp_path / "registry.yml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False))
    reg = registry.load(path)
    rows = reg.vocabulary_rows()
    assert ("statcan_open_sdg", "col:sex", "femmes", "F") in rows
    assert ("statcan_open_sdg", "col:sex", "female", "F") in rows  # the shared codes stay
    assert ("statcan_open_sdg", "open_sdg_column", "marital status", "marital status") in rows


@pytest.mark.unit
def test_periods_and_blank_values_are_checked_when_the_file_is_read():
    src = registry.load().source("statcan_open_sdg")
    good = {"Year": "2024 Q1", "Value": "", "Observation status": "Not available"}
    assert _open_sdg_row(src, good) == []
    assert _open_sdg_row(src, {**good, "Year": "2024-03"}) == []
    assert _open_sdg_row(src, {**good, "Year": "2024"}) == []
    (problem,) = _open_sdg_row(src, {**good, "Year": "2024 Q5"})
    assert problem[0] == "Year" and "quarter" in problem[1]
    (problem,) = _open_sdg_row(src, {"Year": "2024", "Value": ""})
    assert problem[0] == "Value" and "observation status" in problem[1]
    assert _open_sdg_row(src, {"Year": "2024", "Value": "", "OBS_STATUS": "x"}) == []


# ---------------------------------------------------------------------------------------------
# Through a night
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def night(warehouse_url):
    import psycopg2

    clean_warehouse(warehouse_url, landing=True)
    # One community survey beside it, so the night's community marts are not empty (their gates
    # want rows); the Open SDG file is the only official delivery.
    sample.generate(
        settings().landing_dir,
        persons=1500,
        seed=3,
        day=date.fromisoformat(NIGHT),
        only=["aavn_household_survey"],
    )
    folder = settings().landing_dir / "statcan_canada" / NIGHT
    folder.mkdir(parents=True)
    shutil.copy(FIXTURE, folder / FIXTURE.name)
    run = lnob("airflow", "dags", "test", "lnob_nightly", NIGHT, timeout=1200, env={"LNOB_TASK_RETRIES": "0"})
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    yield {"run": run, "db": conn}
    conn.close()


def _query(db, sql: str, *args) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


@pytest.mark.integration
def test_every_row_of_the_file_is_accounted_for(night):
    run = night["run"]
    summary = json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())
    assert run.returncode == 0, json.dumps(summary.get("problems"), default=str)[:6000] + run.stderr[-2000:]
    assert summary["held_back"] == [], summary["held_back"]
    db = night["db"]
    ((status, rows),) = _query(
        db,
        """select status, rows_loaded from lnob_meta.delivery_ledger
                                      where source_id = 'statcan_open_sdg'""",
    )
    assert (status, rows) == ("loaded", len(_rows()))
    staged = _query(
        db,
        f"select row_number, series, ref_area, freq, time_period, obs_value, obs_status "
        f"from staging.{STAGING}",
    )
    assert len(staged) == len(_rows())
    assert not [r for r in staged if any("UNMAPPED" in str(x) for x in r)], staged
    published = _query(
        db,
        """select series, ref_area, time_period, sex, age, disability_status,
                                     cust_breakdown, obs_value, obs_status, freq
                              from marts.fct_sdg_observation where partners = 'statcan_canada'""",
    )
    # Every row published: a figure, or a missing figure with the status that says why.
    assert len(published) == len(_rows())
    missing = [r for r in published if r[7] is None]
    assert sorted(r[8] for r in missing) == ["O", "Q"]
    assert {r[9] for r in published} == {"Q"} and {r[2] for r in published} == {"2024-Q1", "2024-Q2"}


@pytest.mark.integration
def test_codes_are_right(night):
    db = night["db"]

    def one(**key):
        where = " and ".join(f"{k} = %s" for k in key)
        rows = _query(
            db,
            f"""select obs_value, obs_status, unit_measure from marts.fct_sdg_observation
                              where partners = 'statcan_canada' and {where}""",
            *key.values(),
        )
        assert len(rows) == 1, (key, rows)
        return rows[0]

    total = {"sex": "_T", "age": "_T", "disability_status": "_T", "cust_breakdown": "_T"}
    national = {**total, "ref_area": "124", "time_period": "2024-Q1"}
    assert one(series="VC_IHR_PSRC", **national) == (0.52, "A", "PER_100000_POP")
    assert one(series="VC_IHR_PSRCN", **national) == (52, "A", "NUMBER")
    assert one(series="VC_IHR_PSRC", **{**national, "sex": "F"})[0] == 0.31
    assert one(series="VC_IHR_PSRC", **{**national, "age": "Y15T24"})[0] == 0.9
    assert one(series="VC_IHR_PSRC", **{**national, "disability_status": "PD"})[0] == 0.8
    assert one(series="VC_IHR_PSRC", **{**national, "cust_breakdown": "C13"})[0] == 2.1
    assert one(series="VC_IHR_PSRC", **{**national, "cust_breakdown": "C14"})[0] == 0.4
    assert one(
        series="VC_IHR_PSRC",
        sex="F",
        age="Y25T44",
        disability_status="PD",
        cust_breakdown="C13",
        ref_area="124",
        time_period="2024-Q1",
    ) == (None, "Q", "PER_100000_POP")
    assert one(series="VC_IHR_PSRC", **{**national, "ref_area": "CA-ON"})[0] == 0.45
    assert one(series="VC_IHR_PSRC", **{**national, "ref_area": "CA_CMA535"})[0] == 0.38
    assert one(series="VC_IHR_PSRCN", **{**national, "ref_area": "CA_ATLANTIC"})[0] == 3
    assert one(series="VC_IHR_PSRC", **{**national, "cust_breakdown": "C13", "time_period": "2024-Q2"}) == (
        1.9,
        "E",
        "PER_100000_POP",
    )
    assert one(
        series="VC_IHR_PSRCN",
        sex="M",
        age="Y_GE65",
        disability_status="PD",
        cust_breakdown="_T",
        ref_area="124",
        time_period="2024-Q2",
    ) == (None, "O", "NUMBER")
    # "Both sexes" and "All ages" are totals, like a blank cell.
    assert one(series="VC_IHR_PSRCN", **{**national, "ref_area": "CA-ON"}) == (20, "A", "NUMBER")


@pytest.mark.integration
def test_unknown_column_and_category_are_held_back_by_name(night, tmp_path):
    """A second delivery with a column nobody declared and a category nobody mapped: the isolation
    checks name both (the column, and the category with its column)."""
    db = night["db"]
    text = FIXTURE.read_text(encoding="utf-8").splitlines()
    header = text[0].replace(",Value", ",Religion,Value")
    body = [line.rsplit(",", 1)[0] + ",," + line.rsplit(",", 1)[1] for line in text[1:]]
    body.append('2024 Q3,"Rate per 100,000 population",Two-Spirit,,,,,,,,0.2')
    body.append('2024 Q3,"Rate per 100,000 population",,,,,,,,Buddhist,0.3')
    bad = tmp_path / "statcan_canada" / "2026-10-06" / "indicator_16-1-1.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    r = lnob("load", "statcan_open_sdg", str(bad))
    assert r.returncode == 0, r.stdout + r.stderr
    r = lnob("dbt", "run", "--select", STAGING)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    reg = registry.load()
    with db.cursor() as cur:
        columns = isolation.unmapped_columns(cur, reg, "statcan_open_sdg")
        codes = isolation.unmapped_codes(
            cur, {"name": STAGING, "relation": f'staging."{STAGING}"', "source_id": "statcan_open_sdg"}
        )
    assert [p.column for p in columns] == ["Religion"]
    assert {(p.column, v["value"]) for p in codes for v in p.values} == {("sex", "UNMAPPED:Sex=Two-Spirit")}


@pytest.mark.integration
def test_a_blank_value_without_a_status_quarantines_the_file_naming_the_row(night, tmp_path):
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    lines.append('2024 Q3,"Rate per 100,000 population",,,,,,,,')
    bad = tmp_path / "statcan_canada" / "2026-10-07" / "indicator_16-1-1.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = lnob("load", "statcan_open_sdg", str(bad))
    assert r.returncode == 4, r.stdout + r.stderr  # 4: quarantined
    ((status, reason),) = _query(
        night["db"],
        """select status, reason from lnob_meta.delivery_ledger
                                                where source_id = 'statcan_open_sdg' and delivery_date = '2026-10-07'""",
    )
    assert status == "quarantined" and reason["kind"] == "contract_broken", reason
    (error,) = reason["errors"]
    assert (
        error["row"] == len(lines)
        and error["column"] == "Value"
        and "observation status" in error["expected"]
    )
