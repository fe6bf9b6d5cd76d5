"""Onboarding a partner is a registry edit (issue 13): a copy of the registry with a brand-new
community source (a second ODK Central form, by a new partner) runs a night through the real DAG
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
from conftest import clean_warehouse, lnob
from lnob import registry, sample
from lnob.config import settings

pytestmark = pytest.mark.integration

NIGHT = "2026-10-12"


def _onboarded_registry(tmp_path: Path) -> Path:
    """The registry plus a new partner and its ODK form, in ActionAid Kenya's shape: registry lines
    only (what the closing note counts)."""
    doc = yaml.safe_load(registry.load().path.read_text())
    aak = next(s for s in doc["sources"] if s["id"] == "aak_clm_survey")
    doc["partners"].append({"id": "kenya_youth_clm", "name": "Kenya youth-led monitoring network",
                            "kind": "community", "country": "KEN", "icso": "actionaid"})
    doc["sources"].append({**aak, "id": "kyc_clm_survey", "partner": "kenya_youth_clm",
                           "connection": "lnob_odk_kyc", "description": "Youth-led monitoring in Kenya (ODK).",
                           "format": {**aak["format"], "project_id": 9, "form_id": "youth_clm_2026"}})
    path = tmp_path / "registry.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


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
    night = lnob("airflow", "dags", "test", "lnob_nightly", NIGHT, timeout=1500,
                 env={"LNOB_REGISTRY": str(path), "LNOB_TASK_RETRIES": "0"})
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


def test_its_model_and_suite_follow_from_the_registry(onboarded):
    from lnob.registry import dbt_files

    model = settings().dbt_project_dir / "models/staging/community/stg_kyc_clm_survey__persons.sql"
    assert model.read_text().startswith(f"-- {dbt_files.MARKER}")
    suite = settings().gx_project_dir / "gx" / "expectations" / "raw__kyc_clm_survey.json"
    assert suite.exists(), sorted(p.name for p in suite.parent.iterdir())
    # nothing in the committed project was written: the night wrote into the session's copy
    committed = Path(__file__).resolve().parents[1] / "dbt_project"
    assert not (committed / "models/staging/community/stg_kyc_clm_survey__persons.sql").exists()
