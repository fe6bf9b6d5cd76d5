"""The synthetic deliveries: deterministic, readable by each format's standard reader, true to the
registry's contracts, and carrying the stated signal and edge cases."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import sdmx
from helpers import lnob
from lnob import registry
from lnob_dev import sample
from lnob_dev.sample.signal import DISABILITY_EFFECT, PROFILES, SIGNAL

pytestmark = pytest.mark.unit

NIGHT = date(2026, 11, 21)
PERSONS = 20_000


@pytest.fixture(scope="module")
def reg() -> registry.Registry:
    return registry.load()


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing")
    sample.generate(out, persons=PERSONS, seed=42, day=NIGHT)
    return out


def _files(landing: Path, reg: registry.Registry, source_id: str) -> list[Path]:
    src = reg.source(source_id)
    found = sorted(p for p in (landing / src.partner).glob("*/*") if p.match(src.file_pattern))
    assert found, f"no delivery of {source_id} under {landing / src.partner}"
    return found


def _csv_rows(path: Path, src: registry.Source) -> list[dict]:
    with open(path, encoding=src.format.get("encoding", "utf-8"), newline="") as fh:
        return list(csv.DictReader(fh, delimiter=src.format.get("delimiter", ",")))


def _path(record: dict, label: str, nested: bool):
    """A KoboToolbox key is the flat `group/question`; ODK and the UN API nest objects."""
    if not nested:
        return record.get(label)
    value = record
    for part in label.split("/"):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


# --------------------------------------------------------------------------------------------
# Determinism and layout
# --------------------------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(tmp_path: Path):
    first = sample.generate(tmp_path / "a", persons=3000, seed=7, day=NIGHT)
    second = sample.generate(tmp_path / "b", persons=3000, seed=7, day=NIGHT)
    sample.generate(tmp_path / "c", persons=3000, seed=8, day=NIGHT)
    rel = [p.relative_to(tmp_path / "a") for p in first]
    assert rel == [p.relative_to(tmp_path / "b") for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), f"{a.name} differs between two runs with seed 7"
    community = [p for p in first if p.parent.parent.name in {"actionaid_vietnam", "vso_nepal", "wnta_india"}]
    assert community
    for a in community:
        c = tmp_path / "c" / a.relative_to(tmp_path / "a")
        assert c.read_bytes() != a.read_bytes(), f"{a.name} is the same with seed 8"


def test_landing_layout_covers_every_source_and_partner_folder(landing: Path, reg):
    for source_id in sample.ALL_SOURCES:
        for path in _files(landing, reg, source_id):
            partner, day = path.parent.parent.name, path.parent.name
            assert partner == reg.source(source_id).partner
            assert date.fromisoformat(day) <= NIGHT
    assert not list(landing.rglob(".*.part")), "a temporary file was left behind"


def test_the_scale_knob_sets_the_number_of_persons(tmp_path: Path, reg):
    paths = sample.generate(tmp_path, persons=1000, seed=1, day=NIGHT, only=["aavn_household_survey"])
    rows = _csv_rows(paths[0], reg.source("aavn_household_survey"))
    fixed = sum(n for _, _, n in PROFILES["VNM"].small_cells)
    unique = {r["respondent_id"] for r in rows}
    assert len(unique) == 1000 + fixed


# --------------------------------------------------------------------------------------------
# Each format parses with its standard reader, in the shape the registry describes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source_id",
    ["aavn_household_survey", "wnta_hotspot_survey", "plan_india_hotspot_survey", "statcan_open_sdg"],
)
def test_csv_deliveries_parse_with_the_registry_encoding_and_delimiter(landing, reg, source_id):
    src = reg.source(source_id)
    (path,) = _files(landing, reg, source_id)
    frame = pd.read_csv(
        path,
        encoding=src.format.get("encoding", "utf-8"),
        sep=src.format.get("delimiter", ","),
        dtype=str,
        keep_default_na=False,
    )
    assert len(frame) > 0
    labels = [f.label for f in src.fields]
    assert {f.label for f in src.fields if f.required} <= set(frame.columns)
    vocabulary = {label for c in src.vocabulary for label in c.labels}  # Open SDG disaggregations
    assert set(frame.columns) <= set(labels) | vocabulary, "a column the registry does not know"
    if src.type == "file_drop":  # a partner's survey export has every column of its contract
        assert list(frame.columns) == labels


def test_encodings_are_what_the_partners_really_send(landing, reg):
    (vn,) = _files(landing, reg, "aavn_household_survey")
    assert vn.read_bytes().startswith(b"\xef\xbb\xbf"), "Viet Nam sends UTF-8 with a byte-order mark"
    (plan,) = _files(landing, reg, "plan_india_hotspot_survey")
    raw = plan.read_bytes()
    assert b"\xbd" in raw, "the Latin-1 file carries a Latin-1 character (the one-half sign)"
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.splitlines()[0].count(b";") == len(reg.source("plan_india_hotspot_survey").fields) - 1


def test_open_sdg_csv_follows_the_format_rules(landing, reg):
    (path,) = _files(landing, reg, "statcan_open_sdg")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert re.fullmatch(r"indicator_\d+-\d+-\d+\.csv", path.name)
    assert frame.columns[0] == "Year" and frame.columns[-1] == "Value"
    breakdowns = ["Geography", "Population group"]
    totals = frame[(frame[breakdowns] == "").all(axis=1)]
    assert len(totals) == frame["Year"].nunique(), "one total (all breakdowns blank) per year"
    assert pd.to_numeric(frame["Value"]).between(0, 100).all()


def test_xlsx_has_a_title_row_and_a_notes_sheet(landing, reg):
    src = reg.source("vso_np_household_survey")
    (path,) = _files(landing, reg, "vso_np_household_survey")
    book = openpyxl.load_workbook(path, read_only=True)
    assert book.sheetnames == ["Data", "Notes"]
    rows = book["Data"].iter_rows(values_only=True)
    title, header = next(rows), next(rows)
    assert title[0].startswith("VSO Nepal") and all(v is None for v in title[1:])
    assert src.format["header_row"] == 2
    assert list(header) == [f.label for f in src.fields]
    first = dict(zip(header, next(rows), strict=True))
    assert isinstance(first["Age"], int) and first["Interview date"].year == NIGHT.year
    assert pd.read_excel(path, sheet_name="Data", header=1).shape[0] > 100


def test_kobotoolbox_pages_have_the_api_v2_shape(landing, reg):
    src = reg.source("brac_uhc_survey")
    pages = [json.loads(p.read_text()) for p in _files(landing, reg, "brac_uhc_survey")]
    total = pages[0]["count"]
    assert sum(len(p["results"]) for p in pages) == total
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert f"/api/v2/assets/{src.format['asset_uid']}/data/" in pages[0]["next"]
    household_fields = [f for f in src.fields if not f.label.startswith(src.format["repeat"] + "/")]
    for sub in pages[0]["results"]:
        for f in household_fields:
            if f.required:
                assert _path(sub, f.label, nested=False) not in (None, ""), f"{f.label} missing"
        for member in sub[src.format["repeat"]]:
            assert {"hh_roster/sex", "hh_roster/age", "hh_roster/member_no"} <= member.keys()
    assert len({s["_id"] for p in pages for s in p["results"]}) == total


def test_odk_central_pages_have_the_odata_shape(landing, reg):
    src = reg.source("aak_clm_survey")
    pages = [json.loads(p.read_text()) for p in _files(landing, reg, "aak_clm_survey")]
    assert all(p["@odata.context"].endswith("$metadata#Submissions") for p in pages)
    assert sum(len(p["value"]) for p in pages) == pages[0]["@odata.count"]
    assert "@odata.nextLink" in pages[0] and "@odata.nextLink" not in pages[-1]
    for row in pages[0]["value"]:
        for f in src.fields:
            if f.required and f.name != "interview_date":
                assert _path(row, f.label, nested=True) not in (None, ""), f"{f.label} missing"
        assert row["__id"].startswith("uuid:")


def test_un_sdg_api_pages_hold_national_totals_only(landing, reg):
    src = reg.source("unsd_sdg_api")
    files = _files(landing, reg, "unsd_sdg_api")
    series = {p.name.split("_page-")[0] for p in files}
    assert series == set(src.format["series"])
    m49 = {reg.countries[c].m49 for c in src.format["areas"]}
    for path in files:
        page = json.loads(path.read_text())
        assert {"size", "totalElements", "totalPages", "pageNumber", "data"} <= page.keys()
        for row in page["data"]:
            assert row["geoAreaCode"] in m49
            assert row["dimensions"]["Sex"] == "BOTHSEX" and row["dimensions"]["Location"] == "ALLAREA"
            assert float(row["value"]) >= 0
            for f in src.fields:
                if f.required:
                    assert _path(row, f.label, nested=True) is not None, f"{f.label} missing in {path.name}"


def test_sdmx_ml_reads_with_sdmx1_and_has_no_disability_breakdown(landing, reg):
    (path,) = _files(landing, reg, "knbs_sdg_sdmx")
    message = sdmx.read_sdmx(path)
    frame = sdmx.to_pandas(message.data[0]).reset_index()
    assert len(frame) > 20
    assert set(frame["REF_AREA"]) == {"404"}
    assert set(frame["DISABILITY_STATUS"]) == {"_T"} and set(frame["CUST_BREAKDOWN"]) == {"_T"}
    assert set(frame["SERIES"]) <= set(
        pd.read_csv(Path(registry.__file__).parents[3] / "dbt_project/seeds/reference/sdg_series.csv")[
            "series_code"
        ]
    )
    assert {"F", "M", "_T"} <= set(frame["SEX"])


def test_voices_parse_and_plant_what_must_never_be_published(landing, reg):
    (brac,) = _files(landing, reg, "brac_voices")
    (aak,) = _files(landing, reg, "aak_voices")
    records = json.loads(brac.read_text())["testimonies"]
    records += [json.loads(line) for line in aak.read_text().splitlines()]
    for src_id in ("brac_voices", "aak_voices"):
        for f in reg.source(src_id).fields:
            if f.required:
                assert all(r.get(f.label) not in (None, "") for r in records), f.label
    consent = Counter(r["consent"] for r in records)
    assert consent["no"] > 0 and consent["yes"] > consent["no"]
    texts = [r["text"] for r in records]
    assert any(re.search(r"My name is \w+", t) for t in texts), "a name inside a testimony"
    assert any(re.search(r"\+\d{2,3} \d{7,}", t) for t in texts), "a phone number inside a testimony"


# --------------------------------------------------------------------------------------------
# Every spelling the generator writes is mapped by the registry's code maps
# --------------------------------------------------------------------------------------------


def _values(landing: Path, reg, source_id: str) -> dict[str, set[str]]:
    """Every value of every code-mapped field of one source's delivery, as text."""
    src = reg.source(source_id)
    coded = [f for f in src.fields if f.codes]
    seen: dict[str, set[str]] = defaultdict(set)
    for path in _files(landing, reg, source_id):
        if src.kind == "csv":
            records, nested = _csv_rows(path, src), False
        elif src.kind == "xlsx":
            frame = pd.read_excel(
                path, sheet_name=src.format["sheet"], header=src.format["header_row"] - 1, dtype=str
            )
            records, nested = frame.fillna("").to_dict("records"), False
        elif src.kind == "kobo_json":
            records, nested = [], False
            for sub in json.loads(path.read_text())["results"]:
                records += [{**sub, **m} for m in sub[src.format["repeat"]]]
        elif src.kind == "odata_json":
            records, nested = json.loads(path.read_text())["value"], True
        elif src.kind == "json":
            records, nested = json.loads(path.read_text())[src.format["records"]], False
        elif src.kind == "jsonl":
            records, nested = [json.loads(x) for x in path.read_text().splitlines()], False
        elif src.kind == "unsd_json":
            records, nested = json.loads(path.read_text())["data"], True
        else:
            raise AssertionError(f"no reader in this test for {src.kind}")
        for r in records:
            for f in coded:
                v = _path(r, f.label, nested)
                if v not in (None, ""):  # a select_multiple answer: each choice on its own
                    seen[f.name].update(str(v).split() if f.multiple else [str(v)])
    return seen


@pytest.mark.parametrize("source_id", [s for s in sample.ALL_SOURCES if s != "knbs_sdg_sdmx"])
def test_every_generated_code_spelling_is_in_the_registry(landing, reg, source_id):
    src = reg.source(source_id)
    fields = {f.name: f for f in src.fields}
    unmapped = {}
    for name, values in _values(landing, reg, source_id).items():
        cmap = src.codes[fields[name].codes].codes
        missing = {v for v in values if v.strip().lower() not in cmap}
        if missing:
            unmapped[name] = sorted(missing)[:10]
    assert not unmapped, f"{source_id}: spellings the registry does not map: {unmapped}"


def test_every_generated_open_sdg_category_is_in_the_vocabulary(landing, reg):
    """The Open SDG file's disaggregation columns and categories, as staging reads them: the
    column through `open_sdg_column`, the category through `col:<column>` (or `area`)."""
    rows = {
        (code_list, partner_code): code
        for source_id, code_list, partner_code, code in reg.vocabulary_rows()
        if source_id == "statcan_open_sdg"
    }
    src = reg.source("statcan_open_sdg")
    fixed = {f.label for f in src.fields}
    unmapped = set()
    for path in _files(landing, reg, "statcan_open_sdg"):
        for r in _csv_rows(path, src):
            for column, value in r.items():
                if column in fixed:
                    continue
                key = rows.get(("open_sdg_column", column.strip().casefold()))
                assert key, f"column {column!r} is not in the vocabulary"
                if not value.strip():
                    continue
                code_list = "area" if rows[("open_sdg_dimension", key)] == "REF_AREA" else f"col:{key}"
                if (code_list, value.strip().casefold()) not in rows:
                    unmapped.add((column, value))
    assert not unmapped, unmapped


# --------------------------------------------------------------------------------------------
# The true signal and the deliberate edge cases
# --------------------------------------------------------------------------------------------


def _check(pairs: list[tuple[bool, bool]], outcome: str) -> None:
    """Observed rates match the stated ones within four binomial standard errors, and the
    marginalised group fares worse by at least half the stated gap. ``pairs`` are (marginalised,
    outcome) of units without disability, for whom the stated probability applies as it is."""
    rates = {}
    for marginalised, key in ((True, "marginalised"), (False, "rest")):
        values = [outcome_ for m, outcome_ in pairs if m == marginalised]
        assert len(values) > 150, f"too few units to check {outcome} ({len(values)})"
        p, n = SIGNAL[outcome][key], len(values)
        rates[key] = sum(values) / n
        tolerance = 4 * math.sqrt(p * (1 - p) / n)
        assert abs(rates[key] - p) < tolerance, f"{outcome} {key}: {rates[key]:.3f} vs stated {p} (n={n})"
    stated_gap = SIGNAL[outcome]["rest"] - SIGNAL[outcome]["marginalised"]
    assert (rates["rest"] - rates["marginalised"]) / stated_gap > 0.5, f"{outcome}: {rates}"


def _disabled(answers) -> bool:
    """Washington Group: at least one domain answered 3 or 4 (any spelling the partners use)."""
    return any(
        str(a).strip().lower() in ("3", "4", "a_lot_of_difficulty", "cannot_do_at_all") for a in answers
    )


def test_true_signal_water_and_discrimination_in_viet_nam(landing, reg):
    src = reg.source("aavn_household_survey")
    (path,) = _files(landing, reg, "aavn_household_survey")
    groups, yes_no = src.codes["ethnicity"].codes, src.codes["yes_no"].codes
    wg = [f.label for f in src.fields if f.name.startswith("wg_")]
    households: dict[str, dict] = {}
    disc = []
    for r in {r["respondent_id"]: r for r in _csv_rows(path, src)}.values():  # duplicates once
        minority = reg.groups[groups[r["ethnicity"].lower()]].marginalised
        hh = households.setdefault(r["household_id"], {"m": minority, "disabled": False})
        hh["water"] = yes_no[r["safe_water"].lower()] == "1"
        hh["disabled"] |= _disabled(r[c] for c in wg)
        answer = yes_no.get(r["felt_discriminated"].lower())
        if answer in ("0", "1") and not _disabled(r[c] for c in wg):
            disc.append((minority, answer == "1"))
    _check([(h["m"], h["water"]) for h in households.values() if not h["disabled"]], "safe_water")
    _check(disc, "felt_discriminated")


def test_true_signal_birth_registration_and_water_in_india(landing, reg):
    birth, households = [], {}
    for source_id, caste_col, birth_col, water_col, family_col in (
        ("wnta_hotspot_survey", "social_group", "birth_certificate", "drinking_water_source", "family_id"),
        ("plan_india_hotspot_survey", "Category", "Birth_Reg", "Water_Source", "HH_No"),
    ):
        src = reg.source(source_id)
        caste, yes_no, safe = (
            src.codes["caste"].codes,
            src.codes["yes_no"].codes,
            src.codes["water_safe"].codes,
        )
        wg = [f.label for f in src.fields if f.name.startswith("wg_")]
        for path in _files(landing, reg, source_id):
            for r in _csv_rows(path, src):
                marg = reg.groups[caste[r[caste_col].lower()]].marginalised
                hh = households.setdefault(r[family_col], {"m": marg, "disabled": False})
                hh["water"] = safe[r[water_col].lower()] == "1"
                hh["disabled"] |= _disabled(r[c] for c in wg)
                if r[birth_col] and yes_no[r[birth_col].lower()] in ("0", "1"):
                    birth.append((marg, yes_no[r[birth_col].lower()] == "1"))
    _check([(h["m"], h["water"]) for h in households.values() if not h["disabled"]], "safe_water")
    _check(birth, "birth_registered")


def test_true_signal_health_spending_in_bangladesh_and_access_by_disability_in_kenya(landing, reg):
    over10, over25 = [], []
    for path in _files(landing, reg, "brac_uhc_survey"):
        for sub in json.loads(path.read_text())["results"]:
            if any(
                _disabled(v for k, v in m.items() if k.startswith("hh_roster/wg/")) for m in sub["hh_roster"]
            ):
                continue
            share = float(sub["group_exp/health_spending_12m_bdt"]) / (
                12 * float(sub["group_exp/consumption_month_bdt"])
            )
            camp = sub["group_location/camp_or_host"] == "camp"
            over10.append((camp, share > 0.10))
            over25.append((camp, share > 0.25))
    _check(over10, "oop_over_10")
    _check(over25, "oop_over_25")

    access = {True: [], False: []}  # by disability status
    for path in _files(landing, reg, "aak_clm_survey"):
        for row in json.loads(path.read_text())["value"]:
            if row["services"]["received_care"] is None or row["wg"] is None:
                continue
            access[_disabled(row["wg"].values())].append(row["services"]["received_care"] == "yes")
    pd_rate = sum(access[True]) / len(access[True])
    pwd_rate = sum(access[False]) / len(access[False])
    stated = -DISABILITY_EFFECT["health_access"]
    assert pwd_rate - pd_rate > stated / 2, f"access to care: PD {pd_rate:.2f} vs PWD {pwd_rate:.2f}"


def test_small_groups_exist_at_a_fixed_size_for_suppression(landing, reg):
    src = reg.source("aavn_household_survey")
    (path,) = _files(landing, reg, "aavn_household_survey")
    groups, areas = src.codes["ethnicity"].codes, src.codes["admin1"].codes
    people = {
        (r["respondent_id"], areas[r["province"].lower()], groups[r["ethnicity"].lower()])
        for r in _csv_rows(path, src)
    }
    cell = Counter((a, g) for _, a, g in people)
    assert cell[("VN-HN", "ETH_MINORITY")] == 7 < 10  # below LNOB_MIN_CELL: must end up suppressed


def test_edge_cases_are_present(landing, reg):
    vn_src = reg.source("aavn_household_survey")
    (vn,) = _files(landing, reg, "aavn_household_survey")
    rows = _csv_rows(vn, vn_src)
    ids = Counter(r["respondent_id"] for r in rows)
    assert any(n > 1 for n in ids.values()), "duplicate records"
    assert {"female", "F", "2"} <= {r["sex"] for r in rows}, "mixed code spellings"
    assert {"8", "9"} & {r["wg_seeing"] for r in rows}, "don't know / refused"

    kobo = [s for p in _files(landing, reg, "brac_uhc_survey") for s in json.loads(p.read_text())["results"]]
    edits = [s for s in kobo if "meta/deprecatedID" in s]
    assert edits, "edited KoboToolbox records"
    yesterday = (NIGHT - date(2020, 1, 1)).days - 1
    assert all(s["_id"] // 1_000_000 == yesterday for s in edits), "an edit keeps the _id of the original"
    assert len({s["group_hh/hh_code"] for s in kobo}) < len(kobo), "duplicate submissions"

    odk = [r for p in _files(landing, reg, "aak_clm_survey") for r in json.loads(p.read_text())["value"]]
    assert any(r["__system"]["reviewState"] == "edited" and "deprecatedID" in r["meta"] for r in odk)
    assert any(r["__system"]["reviewState"] == "rejected" for r in odk)

    (plan,) = _files(landing, reg, "plan_india_hotspot_survey")
    assert plan.parent.name == (NIGHT - timedelta(days=2)).isoformat(), "a late delivery for an earlier date"


def test_sample_cli_writes_the_landing_layout(tmp_path: Path):
    out = tmp_path / "landing"
    result = lnob(
        "sample",
        "generate",
        "--persons",
        "500",
        "--seed",
        "3",
        "--date",
        "2026-02-01",
        "--out",
        str(out),
        "--only",
        "aavn_household_survey",
        "statcan_open_sdg",
    )
    assert result.returncode == 0, result.stderr
    listed = [Path(line) for line in io.StringIO(result.stdout).read().split()]
    assert sorted(p.relative_to(out).parts[0] for p in listed) == ["actionaid_vietnam", "statcan_canada"]
    assert all(p.exists() for p in listed)
