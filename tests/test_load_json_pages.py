"""JSON pages on the loader's fast path (issue 17): a page is parsed once and its clean records are
checked column by column (``lnob.ingest.load._check_columns``) instead of value by value; any record
that is not clean goes through the record-by-record checks that name row, column and submission.

The fast path must change nothing but the speed: for real-shaped pages (the KoboToolbox fixtures,
generated ODK Central and KoboToolbox pages with broken, rejected and odd submissions) it writes
byte for byte what the record-by-record path writes, with the same counts, the same quarantined
submissions and the same errors; and a page with one bad submission among hundreds loads the rest
through it, on the real warehouse.
"""

from __future__ import annotations

import copy
import io
import json
from datetime import date
from pathlib import Path

import pytest
from helpers import PROJECT, clean_warehouse
from lnob import registry
from lnob.ingest import load, readers
from lnob.platform.config import settings
from lnob_dev import sample

NIGHT = "2026-11-21"
KOBO_FIXTURES = PROJECT / "tests" / "fixtures" / "kobo"


def _spool_both(src, path: Path, monkeypatch) -> tuple:
    """What the loader spools for ``path``: on its fast path, and record by record only."""
    limits = load.Limits.of(settings(), NIGHT)
    fast_out = io.StringIO()
    fast = _outcome(lambda: load._spool(src, path, fast_out, limits))
    with monkeypatch.context() as m:
        m.setattr(load, "PAGE_KINDS", set())  # the record-by-record path alone
        careful_out = io.StringIO()
        careful = _outcome(lambda: load._spool(src, path, careful_out, limits))
    return fast, fast_out.getvalue(), careful, careful_out.getvalue()


def _outcome(spool) -> object:
    try:
        return spool()
    except load.ContractViolation as exc:
        return ("violation", exc.kind, exc.errors, exc.total)


def _generated_page(tmp_path: Path, source_id: str, persons: int = 300) -> tuple[Path, dict]:
    sample.generate(
        tmp_path / "landing", persons=persons, seed=9, day=date.fromisoformat(NIGHT), only=[source_id]
    )
    path = sorted((tmp_path / "landing").rglob("*ubmissions_page-*.json"))[0]
    return path, json.loads(path.read_text())


def _write(tmp_path: Path, name: str, page: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(page, ensure_ascii=False))
    return path


@pytest.mark.unit
@pytest.mark.parametrize("name", ["submissions_page-0001.json", "submissions_page-0002.json"])
def test_kobo_fixture_pages_spool_the_same_on_both_paths(name, monkeypatch):
    src = registry.load().source("brac_uhc_survey")
    fast, fast_csv, careful, careful_csv = _spool_both(src, KOBO_FIXTURES / name, monkeypatch)
    assert fast == careful
    assert fast_csv == careful_csv and fast_csv


@pytest.mark.unit
def test_odk_page_with_every_kind_of_trouble_spools_the_same_on_both_paths(tmp_path, monkeypatch):
    src = registry.load().source("aak_clm_survey")
    _, page = _generated_page(tmp_path, src.id)
    rows = page["value"]
    assert len(rows) > 100
    rows[1]["respondent"]["age"] = "forty"  # a type break: that submission alone is quarantined
    rows[2]["__system"]["reviewState"] = "rejected"  # kept in raw, flagged
    rows[3]["respondent"]["sex"] = "   "  # a required field blank once stripped
    rows[4]["today"] = "2026-13-45"  # not a date
    rows[5]["respondent"]["age"] = 41.0  # a whole number written as a float: loads as 41
    rows[6]["respondent"]["age"] = "  37 "  # spaces around a number: loads stripped
    rows[7]["today"] = "9999-12-31"  # outside the period window
    rows[8]["respondent"]["household_code"] = 12345  # a number where text is expected: loads as text
    rows[9]["extra_group"] = {"nested": {"deeper": True}, "empty": {}, "list": [1, 2]}  # overflow as JSON
    rows[10]["__system"]["edits"] = "1e3"  # Python reads 1e3 as 1000
    rows[11]["location"].pop("county")  # a required field absent
    del rows[12]["respondent"]  # a whole group absent
    path = _write(tmp_path, "Submissions_page-0001.json", page)
    fast, fast_csv, careful, careful_csv = _spool_both(src, path, monkeypatch)
    assert fast == careful
    assert fast_csv == careful_csv
    assert fast.submissions["quarantined"] >= 6 and fast.submissions["rejected"] >= 1
    assert {b["key"] for b in fast.bad_submissions} >= {rows[i]["__id"] for i in (1, 3, 4, 7, 11, 12)}


@pytest.mark.unit
def test_kobo_generated_page_with_broken_households_spools_the_same_on_both_paths(tmp_path, monkeypatch):
    src = registry.load().source("brac_uhc_survey")
    _, page = _generated_page(tmp_path, src.id)
    subs = page["results"]
    subs[0]["hh_roster"] = []  # no members: quarantined alone
    del subs[1]["hh_roster"]  # no repeat group at all
    subs[2]["hh_roster"][0]["hh_roster/age"] = "old"  # one member's type break: the submission goes
    subs[3]["_validation_status"] = {"uid": "validation_status_not_approved", "label": "Not Approved"}
    subs[4]["hh_roster"][-1]["hh_roster/member_no"] = ""  # a required member field empty
    subs[5]["_notes"] = [{"note": "checked", "user": "x"}]  # nested metadata kept as JSON
    subs[6]["hh_roster"].append("not an object")  # a member that is not an object
    path = _write(tmp_path, "submissions_page-0001.json", page)
    fast, fast_csv, careful, careful_csv = _spool_both(src, path, monkeypatch)
    assert fast == careful
    assert fast_csv == careful_csv
    assert fast.submissions["quarantined"] >= 5


@pytest.mark.unit
def test_a_page_whose_every_submission_is_broken_still_quarantines_whole_on_both_paths(tmp_path, monkeypatch):
    src = registry.load().source("aak_clm_survey")
    _, page = _generated_page(tmp_path, src.id, persons=40)
    for row in page["value"]:
        row["respondent"]["age"] = "n/a"
    path = _write(tmp_path, "Submissions_page-0001.json", page)
    fast, fast_csv, careful, careful_csv = _spool_both(src, path, monkeypatch)
    assert fast == careful and fast[0] == "violation" and fast[1] == "contract_broken"


@pytest.mark.unit
def test_a_nul_escape_sends_the_page_record_by_record(tmp_path, monkeypatch):
    """A ``\\u0000`` anywhere in the file: the page is read record by record, which names it."""
    src = registry.load().source("aak_clm_survey")
    _, page = _generated_page(tmp_path, src.id, persons=40)
    page["value"][3]["respondent"]["name"] = "a\u0000b"
    path = _write(tmp_path, "Submissions_page-0001.json", page)
    fast, fast_csv, careful, careful_csv = _spool_both(src, path, monkeypatch)
    assert fast == careful and fast_csv == careful_csv
    [bad] = fast.bad_submissions
    assert bad["errors"][0]["expected"] == "text without NUL bytes"


@pytest.mark.unit
def test_the_fast_path_checks_the_clean_records_column_by_column(tmp_path):
    """The page's clean records never reach the per-value checks (what makes the page fast)."""
    src = registry.load().source("aak_clm_survey")
    path, page = _generated_page(tmp_path, src.id)
    plans = [(f, f.label, f.type, f.required, f.name in load.PERIOD_FIELDS) for f in src.fields]
    records = [r for _, r in readers.records(path, src)]
    checked = load._check_columns(plans, records, None, load.Limits.of(settings(), NIGHT))
    assert len(checked) == len(page["value"]) and all(c is not None for c in checked)


@pytest.mark.integration
def test_one_bad_submission_among_hundreds_loads_the_rest_on_the_fast_path(tmp_path, warehouse_url, db):
    """A 500-submission ODK page with one broken submission: 499 load (the rejected ones kept and
    flagged), the broken one is quarantined alone, named by its ``__id``, with the field and what
    was expected and no personal value; the ledger says so."""
    clean_warehouse(warehouse_url)
    reg = registry.load()
    src = reg.source("aak_clm_survey")
    _, page = _generated_page(tmp_path, src.id, persons=1200)
    rows = page["value"]
    assert len(rows) == 500
    broken = copy.deepcopy(rows[250])
    rows[250]["respondent"]["age"] = "sixty"
    path = _write(tmp_path, "Submissions_page-20261121T020312Z-0001-3f9a0c1b2d4e.json", page)
    delivery = load.Delivery(src.id, src.partner, NIGHT, str(path), load.file_sha256(path))
    import psycopg2

    conn = psycopg2.connect(warehouse_url)
    try:
        result = load.load_delivery(conn, reg, delivery, "json-fast-path", settings())
    finally:
        conn.close()
    assert result.outcome == "loaded"
    assert result.submissions["delivered"] == 500 and result.submissions["quarantined"] == 1
    assert result.submissions["loaded"] + result.submissions["rejected"] == 499
    assert result.rows_loaded == 499
    [q] = result.quarantined_submissions
    assert q["submission"] == f"__id {broken['__id']}"
    [error] = q["reason"]["errors"]
    assert error["column"] == "respondent/age" and error["expected"] == "a whole number"
    assert broken["respondent"]["name"] not in json.dumps(q["reason"])
    kept = json.loads(Path(q["quarantine_path"]).read_text())
    assert kept["__id"] == broken["__id"]
    with db.cursor() as cur:
        cur.execute(
            f"select count(*), count(distinct record_key), min(_row_number), max(_row_number), "
            f'bool_and(_file_name = %s) from raw."{src.raw_table}" where _delivery_id = %s',
            (path.name, result.delivery_id),
        )
        assert cur.fetchone() == (499, 499, 1, 500, True)
        cur.execute(f'select count(*) from raw."{src.raw_table}" where record_key = %s', (broken["__id"],))
        assert cur.fetchone()[0] == 0
        cur.execute(
            "select status, rows_loaded, reason->>'kind' from lnob_meta.delivery_ledger "
            "where delivery_id = %s",
            (result.delivery_id,),
        )
        assert cur.fetchone() == ("loaded", 499, "submissions_quarantined")


@pytest.mark.unit
def test_a_label_looked_up_once_for_a_page_finds_what_lookup_finds():
    records = [
        {"a/b": "x"},
        {"a": {"b": 1}},
        {"a": {"b": {"c": True}}},
        {"a": "flat"},
        {"a": {"x": 1}},
        {"a/b": None, "a": {"b": "y"}},
        {"a": {"b": [1, 2]}},
        {},
        {"a/b/c": "z"},
        {"a/b": {"c": 2.0}},
    ]
    for label in ("a/b", "a/b/c", "a", "q"):
        get = readers.lookup_of(label)
        assert [get(r) for r in records] == [readers.lookup(r, label) for r in records], label
