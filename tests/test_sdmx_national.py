"""A national statistics office's SDMX-ML is recoded like every other source (issue 13), through
the real DAG (`airflow dags test`) on the embedded warehouse, dbt and Great Expectations.

The fixture `tests/fixtures/sdmx/KNBS_SDG_2026Q3.xml` is structure-specific SDMX-ML 2.1 as KNBS
sends it, against its national extension of the SDG DSD: REF_AREA `KE` and county codes
(`KE_NBO`, `KE_MSA`), `URBANISATION=CITY`, national units (`PERCENT`, `PER_100K`), a national
series (`_L_KE_HLTH_NHIF`), a global series newer than the vendored series list
(`SH_STA_WASHARI`) and OBS_STATUS on some observations. The registry maps the national codes and
declares both series, so all 68 observations are published, the national series as national. A
second file of the same night carries an undeclared national series and a county the registry
does not know: that delivery is held back, its reason naming both codes. The night's SDMX export
carries the national series in its CL_SERIES extension and reads back with sdmx1.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from helpers import clean_warehouse, lnob
from lnob.platform import roles, warehouse
from lnob.platform.config import settings
from lnob.publish import sdmx_export
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = "2026-09-14"
FIXTURE = Path(__file__).parent / "fixtures" / "sdmx" / "KNBS_SDG_2026Q3.xml"
GOOD, BAD = "KNBS_SDG_2026Q3.xml", "KNBS_SDG_2026Q3_counties.xml"
OBSERVATIONS = 68


def _bad_variant(text: str) -> str:
    """The same file with one national series nobody declared and one county nobody mapped."""
    text = text.replace(
        'SERIES="_L_KE_HLTH_NHIF" REF_AREA="KE_MSA"', 'SERIES="_L_KE_EDU_TVET" REF_AREA="KE_MSA"'
    )
    return text.replace('SERIES="SH_H2O_SAFE" REF_AREA="KE_NBO"', 'SERIES="SH_H2O_SAFE" REF_AREA="KE_NKR"')


@pytest.fixture(scope="module")
def night(warehouse_url):
    import psycopg2

    clean_warehouse(warehouse_url, landing=True)
    shutil.rmtree(settings().exports_dir / NIGHT, ignore_errors=True)
    landing = settings().landing_dir
    sample.generate(
        landing,
        persons=800,
        seed=13,
        day=date.fromisoformat(NIGHT),
        only=["aak_clm_survey", "unsd_sdg_api", "statcan_open_sdg"],
    )
    folder = landing / "knbs_kenya" / NIGHT
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, folder / GOOD)
    (folder / BAD).write_text(_bad_variant(FIXTURE.read_text(encoding="utf-8")), encoding="utf-8")
    r = lnob("airflow", "dags", "test", "lnob_nightly", NIGHT, timeout=1500, env={"LNOB_TASK_RETRIES": "0"})
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-3000:]
    summary = json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    yield {"summary": summary, "db": conn}
    conn.close()


def _rows(db, sql: str, args=()) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_fixture_is_structure_specific_sdmx_ml_with_a_national_extension():
    text = FIXTURE.read_text(encoding="utf-8")
    for part in (
        "<message:StructureSpecificData",
        "<message:Header>",
        "ss:structureRef=",
        "xsi:type=",
        'dimensionAtObservation="TIME_PERIOD"',
        'REF_AREA="KE_NBO"',
        'URBANISATION="CITY"',
        'UNIT_MEASURE="PER_100K"',
        'SERIES="_L_KE_HLTH_NHIF"',
        'OBS_STATUS="E"',
    ):
        assert part in text, part
    assert text.count("<Obs ") == OBSERVATIONS


def test_every_observation_is_published_or_held_back_with_its_codes(night):
    s, db = night["summary"], night["db"]
    assert s["complete"] and s["published_tonight"], s["problems"]
    ledger = dict(
        (
            (f, (st, n, reason))
            for f, st, n, reason in _rows(
                db,
                """select file_name, status, rows_loaded, reason from lnob_meta.delivery_ledger
               where source_id = 'knbs_sdg_sdmx' and delivery_date = %s""",
                (NIGHT,),
            )
        )
    )
    assert set(ledger) == {GOOD, BAD}, ledger
    assert ledger[GOOD][0] == "loaded" and ledger[GOOD][1] == OBSERVATIONS, ledger[GOOD]
    assert ledger[BAD][0] == "quarantined" and ledger[BAD][2]["kind"] == "held_back", ledger[BAD]
    held = [h for h in s["held_back"] if h["source"] == "knbs_sdg_sdmx"]
    assert len(held) == 1 and held[0]["file"].endswith(BAD), s["held_back"]
    why = " ".join(held[0]["why"])
    assert "column series" in why and "UNMAPPED:_L_KE_EDU_TVET" in why, why
    assert "column ref_area" in why and "UNMAPPED:KE_NKR" in why, why
    assert [h["source"] for h in s["held_back"]] == ["knbs_sdg_sdmx"], s["held_back"]
    # Every observation of the good file is in the mart: none lost, none merged.
    (published,) = _rows(db, "select count(*) from marts.fct_sdg_observation where partners = 'knbs_kenya'")
    assert published[0] == OBSERVATIONS


def test_national_codes_are_recoded_through_the_registry(night):
    db = night["db"]
    got = _rows(
        db,
        """select array_agg(distinct ref_area order by ref_area), array_agg(distinct urbanisation),
                              array_agg(distinct unit_measure order by unit_measure),
                              array_agg(distinct obs_status order by obs_status),
                              array_agg(distinct reporting_type), array_agg(distinct source_detail)
                       from marts.fct_sdg_observation where partners = 'knbs_kenya'""",
    )[0]
    areas, urbanisation, units, statuses, reporting, detail = got
    assert areas == ["404", "KE-28", "KE-30"]  # KE -> 404, KE_MSA -> Mombasa, KE_NBO -> Nairobi City
    assert set(urbanisation) == {"_T", "U", "R"}  # CITY -> U
    assert units == ["PER_100000_POP", "PT"]  # PER_100K, PERCENT
    assert statuses == ["A", "E", "P"]
    assert reporting == ["N"]
    assert detail == [f"Kenya National Bureau of Statistics, SDMX {GOOD}"]
    (nairobi,) = _rows(
        db,
        """select area_name, country_iso3, ref_area_level from marts.bi_sdg_observation
                              where partners = 'knbs_kenya' and ref_area = 'KE-30' limit 1""",
    )
    assert nairobi == ("Nairobi City", "KEN", "admin1")


def test_national_series_are_published_as_national(night):
    db = night["db"]
    dims = dict(
        (r[0], r[1:])
        for r in _rows(
            db,
            """select series_code, is_national_series, series_country_iso3, series_name, indicator_code,
                      has_observations
               from marts.dim_indicator where series_code in ('_L_KE_HLTH_NHIF', 'SH_STA_WASHARI', 'SH_H2O_SAFE')""",
        )
    )
    assert dims["_L_KE_HLTH_NHIF"][:2] == (True, "KEN") and "NHIF" in dims["_L_KE_HLTH_NHIF"][2]
    assert dims["_L_KE_HLTH_NHIF"][3:] == ("3.8.1", True)
    assert dims["SH_STA_WASHARI"][:2] == (False, None) and dims["SH_STA_WASHARI"][3:] == ("3.9.2", True)
    assert dims["SH_H2O_SAFE"][:2] == (False, None)
    bi = dict(
        _rows(
            db,
            """select series, bool_and(is_national_series) from marts.bi_sdg_observation
                          where partners = 'knbs_kenya' group by series""",
        )
    )
    assert bi == {
        "_L_KE_HLTH_NHIF": True,
        "SH_STA_WASHARI": False,
        "SH_H2O_SAFE": False,
        "SG_REG_BRTH": False,
        "SI_POV_NAHC": False,
    }
    (n,) = _rows(
        db,
        """select count(*) from marts.bi_sdg_observation
                       where is_national_series and reporting_type = 'N'""",
    )[0]
    assert n == 20


def test_sdmx_export_carries_the_national_series_and_reads_back(night, warehouse_url):
    files = night["summary"]["exports"]["files"]
    dataflow = sdmx_export.read_structure(Path(files["lnob_structure.xml"]["path"]))
    series = dataflow.structure.dimensions.get("SERIES").local_representation.enumerated
    nhif = series["_L_KE_HLTH_NHIF"]
    assert "NHIF" in str(nhif.name) and "National series of KEN" in str(nhif.description)
    assert "SH_STA_WASHARI" in series
    ext = sdmx_export.Extensions.from_seeds(settings().dbt_project_dir / "seeds")
    with warehouse.connect(roles.step_url(warehouse_url, roles.READER)) as reader:
        rows = sdmx_export.fetch_observations(reader)
    for name in ("sdg_observations.sdmx.xml", "sdg_observations.sdmx.csv"):
        path = Path(files[name]["path"])
        assert sdmx_export.check(path, dataflow, rows, ext) == len(rows)
        national = [r for r in sdmx_export.read_back(path, dataflow) if r["SERIES"] == "_L_KE_HLTH_NHIF"]
        assert len(national) == 20 and {r["REPORTING_TYPE"] for r in national} == {"N"}
        assert {r["REF_AREA"] for r in national} == {"404", "KE-30", "KE-28"}
