"""The reference seeds are generated from ../shared/reference, never hand-typed: regenerating them
gives exactly the committed files, and they hold what the marts rely on."""

import csv
from pathlib import Path

import pytest
from lnob import reference

pytestmark = pytest.mark.unit

SEEDS = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / "reference"


@pytest.mark.skipif(not (reference.reference_dir() / "sdmx").is_dir(), reason="shared/reference not present")
def test_regenerated_seeds_equal_the_committed_ones(tmp_path):
    written = reference.write_seeds(out=tmp_path)
    assert {p.name for p in written} == {p.name for p in SEEDS.glob("*.csv")}
    for path in written:
        assert path.read_bytes() == (SEEDS / path.name).read_bytes(), f"{path.name} is stale: run `lnob reference seeds`"


def _rows(name: str) -> list[dict]:
    with (SEEDS / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_framework_and_series_the_marts_use_are_there():
    assert len(_rows("sdg_goals.csv")) == 17
    indicators = {r["indicator_code"]: r for r in _rows("sdg_indicators.csv")}
    assert indicators["3.8.2"]["target_code"] == "3.8" and "health" in indicators["3.8.2"]["indicator_title"]
    assert {"1.1.1", "1.2.1", "6.1.1", "10.3.1", "16.9.1", "16.b.1"} <= indicators.keys()
    breakdowns = {(r["series_code"], r["dimension"], r["allowed_code"]) for r in _rows("sdg_series_breakdowns.csv")}
    assert ("SH_ACS_UNHC", "DISABILITY_STATUS", "_T") in breakdowns  # the UHC index has no breakdown
    assert ("SG_REG_BRTH", "AGE", "Y0T4") in breakdowns
    assert ("SH_H2O_SAFE", "DISABILITY_STATUS", "ALL") in breakdowns
