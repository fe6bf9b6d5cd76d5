"""The raw gate, per delivery, through the pipeline's own steps (as the nightly DAG calls them) and
the real GX suites: a failing delivery of a `quarantine` source is taken out of raw and kept in
quarantine with the failed expectations named, the other sources go on; a failing delivery of a
`block` source stops the night."""

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from conftest import blocking_registry
from lnob import pipeline, sample
from lnob.config import settings

pytestmark = pytest.mark.integration

NIGHT = "2026-09-01"


@pytest.fixture(scope="module")
def loaded(warehouse_url):
    import psycopg2

    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("drop schema if exists raw, lnob_meta cascade")
    conn.close()
    landing = settings().landing_dir
    files = sample.generate(landing, persons=600, seed=3, day=date.fromisoformat(NIGHT),
                            only=["aavn_household_survey", "wnta_hotspot_survey", "knbs_sdg_sdmx"])
    (vietnam,) = [p for p in files if "household_survey" in p.name]
    # One respondent aged 150: a valid integer, so the contract loads it; the gate must not pass it.
    with vietnam.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("age")] = "150"
    with vietnam.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)

    deliveries = pipeline.extract(warehouse_url, "test-raw-gate", date.fromisoformat(NIGHT))
    return {d["source_id"]: pipeline.load_raw(warehouse_url, "test-raw-gate", d) for d in deliveries}


def test_a_failing_delivery_is_quarantined_and_the_others_go_on(loaded, warehouse_url, db):
    vietnam = loaded["aavn_household_survey"]
    assert vietnam["outcome"] == "loaded"
    gated = pipeline.gate_raw(warehouse_url, "test-raw-gate", vietnam)
    assert gated["outcome"] == "quarantined" and gated["gate"] == "failed"
    kept = Path(gated["quarantine_path"])
    assert kept.exists()
    reason = json.loads(kept.with_name(kept.name + ".reason.json").read_text())
    assert reason["kind"] == "raw_gate_failed" and reason["source"] == "aavn_household_survey"
    assert reason["partner"] == "actionaid_vietnam" and reason["file"] == vietnam["file_name"]
    (failure,) = reason["errors"]
    assert failure["expectation"] == "expect_column_values_to_be_between" and failure["column"] == "age"
    assert failure["unexpected_count"] == 1 and 150 in failure["sample"]
    with db.cursor() as cur:
        cur.execute("select count(*) from raw.aavn_household_survey where _delivery_id = %s",
                    (vietnam["delivery_id"],))
        assert cur.fetchone()[0] == 0  # nothing of it stays in raw
        cur.execute("select status from lnob_meta.delivery_ledger where delivery_id = %s", (vietnam["delivery_id"],))
        assert cur.fetchone()[0] == "quarantined"

    india = pipeline.gate_raw(warehouse_url, "test-raw-gate", loaded["wnta_hotspot_survey"])
    assert india["gate"] == "passed" and india["outcome"] == "loaded"


def test_a_failing_delivery_of_a_blocking_source_stops_the_night(loaded, warehouse_url, db, tmp_path, monkeypatch):
    monkeypatch.setenv("LNOB_REGISTRY", str(blocking_registry(tmp_path, "knbs_sdg_sdmx")))
    kenya = loaded["knbs_sdg_sdmx"]
    with db.cursor() as cur:  # an official file whose observations lost their series
        cur.execute("update raw.knbs_sdg_sdmx set series = null where _delivery_id = %s", (kenya["delivery_id"],))
    with pytest.raises(pipeline.GateFailed, match=r"(?s)raw__knbs_sdg_sdmx: FAILED .*expect_column_values_to_not_be_null\(series\) unexpected=39"):
        pipeline.gate_raw(warehouse_url, "test-raw-gate", kenya)
