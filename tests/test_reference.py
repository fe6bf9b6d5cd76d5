"""The reference seeds are generated from the reference files vendored in the package (a copy of
../shared/reference), never hand-typed: regenerating them gives exactly the committed files, the
vendored copy has not drifted from the shared one, and the seeds hold what the marts rely on."""

import csv
import os
import re
from pathlib import Path

import pytest
from lnob.transform import reference

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "dbt_project" / "seeds" / "reference"
SHARED = ROOT.parent / "shared" / "reference"


def test_regenerated_seeds_equal_the_committed_ones(tmp_path, monkeypatch):
    monkeypatch.delenv("LNOB_REFERENCE_DIR", raising=False)
    assert reference.reference_dir() == reference.VENDORED_DIR  # never skips: the package holds the inputs
    written = reference.write_seeds(out=tmp_path)
    assert {p.name for p in written} == {p.name for p in SEEDS.glob("*.csv")}
    for path in written:
        assert path.read_bytes() == (SEEDS / path.name).read_bytes(), (
            f"{path.name} is stale: run `lnob reference seeds`"
        )


def _vendored_files() -> set[str]:
    return {
        p.relative_to(reference.VENDORED_DIR).as_posix()
        for p in reference.VENDORED_DIR.rglob("*")
        if p.is_file()
    }


def test_only_what_the_seeds_and_exports_read_is_vendored_with_its_licence():
    folders = {Path(f).parent.as_posix() for f in reference.INPUT_FILES}
    notes = {f"{d}/{n}" for d in folders for n in ("LICENSE", "SOURCE.txt")}
    assert _vendored_files() == set(reference.INPUT_FILES) | notes
    for folder in folders:
        assert "MIT License" in (reference.VENDORED_DIR / folder / "LICENSE").read_text(encoding="utf-8")


def _words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.skipif(
    not SHARED.is_dir(), reason="../shared/reference not present: nothing to compare the vendored copy with"
)
def test_the_vendored_reference_equals_the_shared_one():
    """Drift is caught here: every vendored input and licence is byte-identical to the shared
    folder, and the provenance each shared SOURCE.txt states is kept in the vendored note."""
    for name in sorted(_vendored_files()):
        ours, theirs = reference.VENDORED_DIR / name, SHARED / name
        assert theirs.is_file(), f"{name} is vendored but not in {SHARED}"
        if theirs.name == "SOURCE.txt":
            kept = _words(ours.read_text(encoding="utf-8"))
            for line in theirs.read_text(encoding="utf-8").splitlines():
                # the vendored note may wrap the lines and add how the copy is used, but states the same origin
                for commit in re.findall(r"\b[0-9a-f]{40}\b", line):
                    assert commit in kept, f"{name}: upstream commit {commit} of {SHARED / name} not recorded"
        else:
            assert ours.read_bytes() == theirs.read_bytes(), (
                f"{name} differs from {theirs}: re-vendor it and run `lnob reference seeds`"
            )


def test_an_environment_override_still_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("LNOB_REFERENCE_DIR", os.fspath(tmp_path))
    assert reference.reference_dir() == tmp_path


def _rows(name: str) -> list[dict]:
    with (SEEDS / name).open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_framework_and_series_the_marts_use_are_there():
    assert len(_rows("sdg_goals.csv")) == 17
    indicators = {r["indicator_code"]: r for r in _rows("sdg_indicators.csv")}
    assert indicators["3.8.2"]["target_code"] == "3.8" and "health" in indicators["3.8.2"]["indicator_title"]
    assert {"1.1.1", "1.2.1", "6.1.1", "10.3.1", "16.9.1", "16.b.1"} <= indicators.keys()
    breakdowns = {
        (r["series_code"], r["dimension"], r["allowed_code"]) for r in _rows("sdg_series_breakdowns.csv")
    }
    assert ("SH_ACS_UNHC", "DISABILITY_STATUS", "_T") in breakdowns  # the UHC index has no breakdown
    assert ("SG_REG_BRTH", "AGE", "Y0T4") in breakdowns
    assert ("SH_H2O_SAFE", "DISABILITY_STATUS", "ALL") in breakdowns
