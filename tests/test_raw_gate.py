"""The raw gate, per delivery, through the pipeline's own steps (as the nightly DAG calls them) and
the real GX suites: a failing delivery of a `quarantine` source is taken out of raw and kept in
quarantine with the failed expectations named, the other sources go on; a failing delivery of a
`block` source stops the night."""

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from helpers import blocking_registry
from lnob import pipeline
from lnob.platform.config import settings
from lnob_dev import sample

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
    files = sample.generate(
        landing,
        persons=600,
        seed=3,
        day=date.fromisoformat(NIGHT),
        only=["aavn_household_survey", "wnta_hotspot_survey", "knbs_sdg_sdmx"],
    )
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
        cur.execute(
            "select count(*) from raw.aavn_household_survey where _delivery_id = %s",
            (vietnam["delivery_id"],),
        )
        assert cur.fetchone()[0] == 0  # nothing of it stays in raw
        cur.execute(
            "select status from lnob_meta.delivery_ledger where delivery_id = %s", (vietnam["delivery_id"],)
        )
        assert cur.fetchone()[0] == "quarantined"

    india = pipeline.gate_raw(warehouse_url, "test-raw-gate", loaded["wnta_hotspot_survey"])
    assert india["gate"] == "passed" and india["outcome"] == "loaded"


def test_a_failing_delivery_of_a_blocking_source_stops_the_night(
    loaded, warehouse_url, db, tmp_path, monkeypatch
):
    monkeypatch.setenv("LNOB_REGISTRY", str(blocking_registry(tmp_path, "knbs_sdg_sdmx")))
    kenya = loaded["knbs_sdg_sdmx"]
    with db.cursor() as cur:  # an official file whose observations lost their series
        cur.execute(
            "update raw.knbs_sdg_sdmx set series = null where _delivery_id = %s", (kenya["delivery_id"],)
        )
    with pytest.raises(
        pipeline.GateFailed,
        match=r"(?s)raw__knbs_sdg_sdmx: FAILED .*expect_column_values_to_not_be_null\(series\) unexpected=39",
    ):
        pipeline.gate_raw(warehouse_url, "test-raw-gate", kenya)


PAGED_NIGHT = "2026-09-02"


def test_one_gate_per_source_holds_back_only_the_page_that_fails(warehouse_url, db):
    """An API fetch brings several pages: the night maps one load and one raw gate per source
    (``extract_sources``), the gate validates the pages together, and when that fails it finds
    the one page that failed: that page is quarantined, the others pass and are marked gated."""

    night = date.fromisoformat(PAGED_NIGHT)
    files = sample.generate(settings().landing_dir, persons=6000, seed=5, day=night, only=["aak_clm_survey"])
    assert len(files) >= 3, "the sample should bring several API pages"
    batches = [
        b
        for b in pipeline.extract_sources(warehouse_url, "test-paged", night)
        if b["source_id"] == "aak_clm_survey"
    ]
    (batch,) = batches  # one unit of work for the source, however many pages
    assert len(batch["deliveries"]) == len(files)
    assert pipeline.label(batch) == f"aak_clm_survey (actionaid_kenya, {len(files)} new deliveries)"
    loaded = pipeline.load_source(warehouse_url, "test-paged", batch)
    ids = [d["delivery_id"] for d in loaded["deliveries"]]
    assert all(d["outcome"] == "loaded" for d in loaded["deliveries"])
    bad = ids[1]
    with db.cursor() as cur:  # one respondent of the second page aged 150
        cur.execute(
            "update raw.aak_clm_survey set age = 150 where ctid = (select ctid from raw.aak_clm_survey "
            "where _delivery_id = %s limit 1)",
            (bad,),
        )

    gated = pipeline.gate_source(warehouse_url, "test-paged", loaded)
    outcome = {d["delivery_id"]: d for d in gated["deliveries"]}
    assert set(outcome) == set(ids)
    assert outcome[bad]["gate"] == "failed" and outcome[bad]["outcome"] == "quarantined"
    (failure,) = json.loads(Path(outcome[bad]["quarantine_path"] + ".reason.json").read_text())["errors"]
    assert failure["column"] == "age" and failure["unexpected_count"] == 1
    assert all(outcome[d]["gate"] == "passed" for d in ids if d != bad)
    with db.cursor() as cur:
        cur.execute(
            "select delivery_id, status, gated_at is not null from lnob_meta.delivery_ledger "
            "where delivery_id = any(%s)",
            (ids,),
        )
        ledger = {r[0]: r[1:] for r in cur.fetchall()}
    assert ledger[bad] == ("quarantined", False)
    assert all(ledger[d] == ("loaded", True) for d in ids if d != bad)


def test_a_delivery_a_stopped_night_left_ungated_is_gated_by_the_next(warehouse_url, db):
    """A night that stopped between load and gate leaves loaded deliveries nobody validated: the
    next night has no new file of that source, yet it still gates them before anything reads them."""
    night = date.fromisoformat("2026-09-03")
    sample.generate(
        settings().landing_dir, persons=600, seed=6, day=night, only=["plan_india_hotspot_survey"]
    )
    (batch,) = [
        b
        for b in pipeline.extract_sources(warehouse_url, "test-stopped", night)
        if b["source_id"] == "plan_india_hotspot_survey"
    ]
    (delivery,) = pipeline.load_source(warehouse_url, "test-stopped", batch)[
        "deliveries"
    ]  # ... and the night stops

    (leftover,) = [
        b
        for b in pipeline.extract_sources(warehouse_url, "test-next", night)
        if b["source_id"] == "plan_india_hotspot_survey"
    ]
    assert leftover["deliveries"] == []  # nothing new, but the source has work
    (gated,) = pipeline.gate_source(warehouse_url, "test-next", leftover)["deliveries"]
    assert gated["delivery_id"] == delivery["delivery_id"] and gated["gate"] == "passed"
    with db.cursor() as cur:
        cur.execute(
            "select gated_at is not null from lnob_meta.delivery_ledger where delivery_id = %s",
            (delivery["delivery_id"],),
        )
        assert cur.fetchone()[0]
    assert not [
        b
        for b in pipeline.extract_sources(warehouse_url, "test-after", night)
        if b["source_id"] == "plan_india_hotspot_survey"
    ]
