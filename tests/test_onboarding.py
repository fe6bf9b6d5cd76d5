"""Onboarding a partner is a registry edit (issue 13): a copy of the registry with a brand-new
community source (a second ODK Central form, by a new partner) and a brand-new official source (a
national Open SDG platform, by a new statistics office) runs a night through the real DAG
(`airflow dags test`, embedded PostgreSQL, dbt, Great Expectations) and the new partner's rows are
published. No SQL, model, seed, yml or suite is written by hand: the night writes the staging model,
the raw sources' yml, the staged-model lists and the seeds from the registry, and the raw gate
scaffolds the new source's suite from its contract.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml
from helpers import clean_warehouse, lnob
from lnob import registry
from lnob.platform.config import settings
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = "2026-10-12"


def _onboarded_registry(tmp_path: Path) -> Path:
    """The registry plus a new partner and its ODK form, in ActionAid Kenya's shape: registry lines
    only (what the closing note counts)."""
    doc = yaml.safe_load(registry.load().path.read_text())
    aak = next(s for s in doc["sources"] if s["id"] == "aak_clm_survey")
    doc["partners"].append(
        {
            "id": "kenya_youth_clm",
            "name": "Kenya youth-led monitoring network",
            "kind": "community",
            "country": "KEN",
            "icso": "actionaid",
        }
    )
    doc["sources"].append(
        {
            **aak,
            "id": "kyc_clm_survey",
            "partner": "kenya_youth_clm",
            "connection": "lnob_odk_kyc",
            "description": "Youth-led monitoring in Kenya (ODK).",
            "format": {**aak["format"], "project_id": 9, "form_id": "youth_clm_2026"},
        }
    )
    # A national Open SDG platform: its disaggregation columns come from the shared vocabulary.
    doc["partners"].append(
        {
            "id": "psa_philippines",
            "name": "Philippine Statistics Authority (SDG platform)",
            "kind": "official",
            "country": "PHL",
        }
    )
    doc["sources"].append(
        {
            "id": "psa_open_sdg",
            "partner": "psa_philippines",
            "type": "open_sdg_csv",
            "entity": "observation",
            "cadence": "quarterly",
            "file_pattern": "indicator_*.csv",
            "format": {"kind": "csv", "encoding": "utf-8", "delimiter": ",", "indicator_from": "file_name"},
            "series": {"6.1.1": {"default": "SH_H2O_SAFE"}},
        }
    )
    path = tmp_path / "registry.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


#: The Philippine platform's first file, as Open SDG platforms publish one: a blank cell is the
#: total, a quarter year, a missing value with its observation status.
PSA_FILE = """Year,Units,Urbanisation,Income quintile,Observation status,Value
2023,Percent,,,,47.9
2023,Percent,Urban,,,60.1
2023,Percent,Rural,,,34.2
2023,Percent,,Lowest quintile,,21.5
2023,Percent,,Highest quintile,,78.0
2024 Q1,Percent,,,,48.6
2024 Q1,Percent,Rural,Lowest quintile,Not available,
"""


@pytest.fixture(scope="module")
def onboarded(warehouse_url, tmp_path_factory):
    import psycopg2

    tmp = tmp_path_factory.mktemp("onboarding")
    path = _onboarded_registry(tmp)
    clean_warehouse(warehouse_url, landing=True)
    landing = settings().landing_dir
    day = date.fromisoformat(NIGHT)
    sample.generate(landing, persons=1500, seed=5, day=day)
    # The new partner's first pages: ODK Central OData pages of its own form.
    pages = sample.generate(tmp / "odk", persons=1500, seed=6, day=day, only=["aak_clm_survey"])
    target = landing / "kenya_youth_clm" / NIGHT
    target.mkdir(parents=True)
    for page in pages:
        shutil.copy(page, target / page.name)
    psa = landing / "psa_philippines" / NIGHT
    psa.mkdir(parents=True)
    (psa / "indicator_6-1-1.csv").write_text(PSA_FILE, encoding="utf-8")
    night = lnob(
        "airflow",
        "dags",
        "test",
        "lnob_nightly",
        NIGHT,
        timeout=1500,
        env={"LNOB_REGISTRY": str(path), "LNOB_TASK_RETRIES": "0"},
    )
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    yield {"night": night, "db": conn, "pages": pages}
    conn.close()


def test_the_new_source_is_published(onboarded):
    night = onboarded["night"]
    assert night.returncode == 0, night.stdout[-5000:] + night.stderr[-3000:]
    summary = json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())
    assert summary["complete"] and summary["held_back"] == [], summary["problems"]
    with onboarded["db"].cursor() as cur:
        cur.execute("""select status, rows_loaded from lnob_meta.delivery_ledger
                       where source_id = 'kyc_clm_survey'""")
        ledger = cur.fetchall()
        assert ledger and {s for s, _ in ledger} == {"loaded"}
        cur.execute("select count(*) from raw.kyc_clm_survey")
        raw_rows = cur.fetchone()[0]
        assert raw_rows == sum(n for _, n in ledger)
        cur.execute("select count(*) from staging.stg_kyc_clm_survey__persons")
        assert cur.fetchone()[0] == raw_rows
        cur.execute("""select count(*), count(distinct series) from marts.fct_sdg_observation
                       where partners = 'kenya_youth_clm'""")
        published, series = cur.fetchone()
        assert published > 0 and series >= 3, (published, series)
        cur.execute("select partner_name from marts.dim_partner where partner_id = 'kenya_youth_clm'")
        assert cur.fetchone() == ("Kenya youth-led monitoring network",)


def test_the_new_official_platform_is_published_row_for_row(onboarded):
    with onboarded["db"].cursor() as cur:
        cur.execute(
            "select status, rows_loaded from lnob_meta.delivery_ledger where source_id = 'psa_open_sdg'"
        )
        assert cur.fetchall() == [("loaded", 7)]
        cur.execute("""select time_period, freq, urbanisation, income_wealth_quantile, obs_value, obs_status
                       from marts.fct_sdg_observation
                       where partners = 'psa_philippines' and series = 'SH_H2O_SAFE' and ref_area = '608'
                       order by 1, 3, 4""")
        rows = cur.fetchall()
    assert rows == [
        ("2023", "A", "R", "_T", 34.2, "A"),
        ("2023", "A", "U", "_T", 60.1, "A"),
        ("2023", "A", "_T", "Q1", 21.5, "A"),
        ("2023", "A", "_T", "Q5", 78.0, "A"),
        ("2023", "A", "_T", "_T", 47.9, "A"),
        ("2024-Q1", "Q", "R", "Q1", None, "O"),
        ("2024-Q1", "Q", "_T", "_T", 48.6, "A"),
    ], rows


def test_its_model_and_suite_follow_from_the_registry(onboarded):
    from lnob.registry import dbt_files

    model = settings().dbt_project_dir / "models/staging/community/stg_kyc_clm_survey__persons.sql"
    assert model.read_text().startswith(f"-- {dbt_files.MARKER}")
    suite = settings().gx_project_dir / "gx" / "expectations" / "raw__kyc_clm_survey.json"
    assert suite.exists(), sorted(p.name for p in suite.parent.iterdir())
    # nothing in the committed project was written: the night wrote into the session's copy
    official = settings().dbt_project_dir / "models/staging/official/stg_psa_open_sdg__observations.sql"
    assert "{{ stage_open_sdg_observations('psa_open_sdg') }}" in official.read_text()
    committed = Path(__file__).resolve().parents[1] / "dbt_project"
    assert not (committed / "models/staging/community/stg_kyc_clm_survey__persons.sql").exists()
    assert not (committed / "models/staging/official/stg_psa_open_sdg__observations.sql").exists()
