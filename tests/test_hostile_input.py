"""Hostile input (issue 14): the landing folder is a boundary, reasons carry no personal data,
hostile files are refused quickly and by name, and the night goes on.

One night is staged through the pipeline's own steps (extract, load_raw, gate_raw, the summary and
the HTML report) on a landing folder holding, beside well-formed deliveries of other partners:
links to a secret outside the landing folder (a file link, a hard link, a linked date folder, a
linked partner folder), a FIFO, a file name with a newline, an unknown partner folder, and one
delivery per hostile file (an XLSX declaring a full-size sheet, one with a huge shared-strings
table, one whose sheet breaks off, NUL bytes, a duplicate header, dates in 9999, NaN and 1e308
weights, a broken row carrying a planted name and phone number)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import hostile_files as hf
import pytest
from helpers import PROJECT, clean_warehouse, lnob
from lnob import pipeline, registry
from lnob.ingest import load
from lnob.platform.config import settings
from lnob.publish import report
from lnob.quality import gates
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = date(2026, 10, 1)
RUN = "test-hostile-night"
SECRET = "SECRET-7f3a-bi-reader-password-not-for-partners"
NAME, PHONE = "Karimuddin Testname", "0912 345 678"
PHONE_FORMS = ("912 345 678", "912-345-678", "912345678")
AAVN = "aavn_household_survey"

#: What each hostile delivery's reason must say (first error): kind, row, column, expected, found.
EXPECT = {
    "household_survey_nul.csv": {
        "kind": "contract_broken",
        "row": 4,
        "column": "province",
        "expected": "text without NUL bytes",
        "found": "a NUL byte",
    },
    "household_survey_dupe.csv": {
        "kind": "duplicate_header",
        "row": 1,
        "column": "age",
        "expected": "each column name once",
    },
    "household_survey_9999.csv": {
        "kind": "contract_broken",
        "row": 6,
        "column": "interview_date",
        "expected": "1950..2027",
        "found": "year 9999",
    },
    "household_survey_nan.csv": {
        "kind": "contract_broken",
        "row": 3,
        "column": "weight",
        "expected": "a finite number",
        "found": "NaN",
    },
    "household_survey_huge.csv": {
        "kind": "contract_broken",
        "row": 5,
        "column": "weight",
        "expected": "LNOB_NUMERIC_MAX_ABS",
        "found": "a number of magnitude 1e+308",
    },
    "household_survey_planted.csv": {
        "kind": "contract_broken",
        "row": 8,
        "column": "age",
        "expected": "a whole number",
    },
    "PLAN_IN_members_9999.csv": {
        "kind": "contract_broken",
        "row": 4,
        "column": "Date",
        "expected": "1950..2027",
        "found": "year 9999",
    },
    "VSO_Nepal_LNOB_dimension.xlsx": {
        "kind": "xlsx_too_large",
        "expected": "LNOB_XLSX_MAX_CELLS",
        "found": "A1:XFD1048576",
    },
    "VSO_Nepal_LNOB_strings.xlsx": {"kind": "xlsx_too_large", "expected": "LNOB_XLSX_MAX_SHARED_STRINGS"},
    "VSO_Nepal_LNOB_broken.xlsx": {"kind": "unreadable_file", "expected": "a file readable as xlsx"},
}


def _set(rows: list[list[str]], row: int, column: str, value: str) -> list[list[str]]:
    rows[row][rows[0].index(column)] = value
    return rows


def _aavn_variants(rows: list[list[str]]) -> dict[str, list[list[str]]]:
    def copy():
        return [list(r) for r in rows]

    dupe = copy()
    dupe[0].append("age")
    for r in dupe[1:]:
        r.append("33")
    planted = _set(_set(copy(), 7, "respondent_name", NAME), 7, "phone", PHONE)
    planted = _set(_set(planted, 7, "age", NAME.split()[0]), 7, "weight", PHONE.replace(" ", "-"))
    return {
        "household_survey_nul.csv": _set(copy(), 3, "province", "Ha\x00Noi"),
        "household_survey_dupe.csv": dupe,
        "household_survey_9999.csv": _set(copy(), 5, "interview_date", "9999-12-31"),
        "household_survey_nan.csv": _set(copy(), 2, "weight", "NaN"),
        "household_survey_huge.csv": _set(copy(), 4, "weight", "1e308"),
        "household_survey_planted.csv": planted,
    }


def _owner_only(path: Path) -> bool:
    return stat.S_IMODE(os.lstat(path).st_mode) & 0o077 == 0


@pytest.fixture(scope="module")
def night(warehouse_url, tmp_path_factory):
    """Stage the landing folder, run extract, load_raw and gate_raw on every delivery, then the
    summary and the report; return everything a test looks at."""
    clean_warehouse(warehouse_url, landing=True)
    cfg = settings()
    landing = cfg.landing_dir
    outside = tmp_path_factory.mktemp("outside-the-landing-folder")
    secret = outside / "secret.csv"
    secret.write_text(json.dumps({"lnob_bi_reader": SECRET}) + "\n" + SECRET + "\n")

    src = tmp_path_factory.mktemp("well-formed")
    good = {
        p.name: p
        for p in sample.generate(
            src,
            persons=40,
            seed=5,
            day=NIGHT,
            only=[AAVN, "plan_india_hotspot_survey", "vso_np_household_survey"],
        )
    }
    wnta = sample.generate(landing, persons=40, seed=6, day=NIGHT, only=["wnta_hotspot_survey"])[0]
    os.chmod(wnta, 0o644)  # as a partner's upload tool may leave it: extract takes the access away

    aavn_day = landing / "actionaid_vietnam" / NIGHT.isoformat()
    base = hf.read_rows(good[f"household_survey_{NIGHT}.csv"])
    for name, rows in _aavn_variants(base).items():
        hf.write_rows(aavn_day / name, rows)
    plan = next(p for n, p in good.items() if n.startswith("PLAN_IN"))
    plan_rows = hf.read_rows(plan, "latin-1", ";")
    hf.write_rows(
        landing / "plan_india" / plan.parent.name / "PLAN_IN_members_9999.csv",
        _set(plan_rows, 3, "Date", "31/12/9999"),
        "latin-1",
        ";",
    )
    vso = next(p for n, p in good.items() if n.startswith("VSO"))
    vso_day = landing / "vso_nepal" / vso.parent.name
    vso_day.mkdir(parents=True, exist_ok=True)
    (vso_day / vso.name).write_bytes(vso.read_bytes())  # a well-formed XLSX still loads
    hf.xlsx_declaring_full_sheet(vso, vso_day / "VSO_Nepal_LNOB_dimension.xlsx")
    hf.xlsx_with_big_shared_strings(vso, vso_day / "VSO_Nepal_LNOB_strings.xlsx")
    hf.xlsx_with_broken_sheet(vso, vso_day / "VSO_Nepal_LNOB_broken.xlsx")

    # The boundary: links out of the landing folder, a FIFO, a forged name, an unknown partner.
    (aavn_day / "household_survey_link.csv").symlink_to(secret)
    hard = aavn_day / "household_survey_hardlink.csv"
    try:
        os.link(secret, hard)
    except OSError:  # another file system: the test of links still stands
        hard = None
    os.mkfifo(aavn_day / "household_survey_fifo.csv")
    (aavn_day / "household_survey_x\nLNOB nightly run FORGED.csv").write_text(SECRET)
    linked_day = outside / "day"
    hf.write_rows(
        linked_day / "household_survey_2026-09-30.csv", _set([list(r) for r in base], 1, "province", SECRET)
    )
    (landing / "actionaid_vietnam" / "2026-09-30").symlink_to(linked_day, target_is_directory=True)
    (outside / "partner" / NIGHT.isoformat()).mkdir(parents=True)
    (outside / "partner" / NIGHT.isoformat() / "testimonies_1.json").write_text(
        json.dumps({"testimonies": [SECRET]})
    )
    (landing / "brac_bangladesh").symlink_to(outside / "partner", target_is_directory=True)
    (landing / "evil_partner" / NIGHT.isoformat()).mkdir(parents=True)
    (landing / "evil_partner" / NIGHT.isoformat() / "x.csv").write_text(SECRET)
    (wnta.parent / "notes.txt").write_text("not a delivery")

    url = warehouse_url
    t = time.monotonic()
    deliveries = pipeline.extract(url, RUN, NIGHT)
    extract_seconds = time.monotonic() - t
    results = {}
    for d in deliveries:
        t = time.monotonic()
        loaded = pipeline.load_raw(url, RUN, d)
        seconds = time.monotonic() - t
        results[Path(d["path"]).name] = {**pipeline.gate_raw(url, RUN, loaded), "load_seconds": seconds}
    s = pipeline.summary(url, RUN, NIGHT)
    html = report.write(url, RUN, NIGHT, s, with_dbt_docs=False)
    return {
        "results": results,
        "summary": s,
        "text": pipeline.format_summary(s),
        "html": html,
        "extract_seconds": extract_seconds,
        "secret": secret,
        "outside": outside,
        "hard": hard,
        "wnta": wnta,
        "landing": landing,
        "cfg": cfg,
    }


def _ledger(db) -> list[dict]:
    with db.cursor() as cur:
        cur.execute("select * from lnob_meta.delivery_ledger order by delivery_id")
        cols = [c.name for c in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def _run_log(db) -> str:
    with db.cursor() as cur:
        cur.execute(
            "select stage, subject, outcome, detail::text from lnob_meta.run_log where run_id = %s", (RUN,)
        )
        return json.dumps(cur.fetchall(), default=str)


def _every_text(night, db) -> dict[str, str]:
    """Everything the night wrote that a person or another process may read."""
    out = {
        "ledger": json.dumps(_ledger(db), default=str),
        "run_log": _run_log(db),
        "summary": night["text"],
        "summary.json": json.dumps(night["summary"], default=str),
        "report": night["html"].read_text(),
    }
    for p in settings().quarantine_dir.rglob("*"):
        if p.is_file():
            out[str(p)] = p.read_bytes().decode("utf-8", "replace")
    for p in settings().reports_dir.rglob("*"):
        if p.is_file() and p.suffix in (".html", ".json", ".txt"):
            out[str(p)] = p.read_text(errors="replace")
    return out


@pytest.mark.parametrize("file_name", sorted(EXPECT))
def test_each_hostile_file_is_quarantined_by_name_with_its_reason(night, db, file_name):
    result = night["results"][file_name]
    assert result["outcome"] == "quarantined", result
    reason = result["reason"]
    want = EXPECT[file_name]
    assert reason["kind"] == want["kind"], reason
    err = reason["errors"][0]
    for key in ("row", "column"):
        if key in want:
            assert err[key] == want[key], (file_name, err)
    for key in ("expected", "found"):
        if key in want:
            assert want[key] in err[key], (file_name, err)
    kept = Path(result["quarantine_path"])
    reason_file = kept.with_name(kept.name + ".reason.json")
    assert json.loads(reason_file.read_text())["kind"] == want["kind"]
    assert reason_file.stat().st_size <= 64 * 1024
    (row,) = [r for r in _ledger(db) if r["file_name"] == file_name]
    assert row["status"] == "quarantined" and row["reason"]["kind"] == want["kind"]
    assert result["load_seconds"] < 10, (file_name, result["load_seconds"])  # refused quickly


def test_the_well_formed_deliveries_of_the_night_still_load(night, db):
    results = night["results"]
    wnta = results[night["wnta"].name]
    assert wnta["outcome"] == "loaded" and wnta["gate"] == "passed" and wnta["rows_loaded"] > 0
    vso = next(r for n, r in results.items() if n.startswith("VSO_Nepal_LNOB_2"))
    assert vso["outcome"] == "loaded" and vso["rows_loaded"] > 0, vso


def test_nothing_outside_the_landing_folder_is_ever_read(night, db):
    texts = _every_text(night, db)
    leaked = [where for where, text in texts.items() if SECRET in text]
    assert not leaked, leaked
    outside = str(night["outside"])
    for row in _ledger(db):
        assert not row["file_path"].startswith(outside)
        assert row["delivery_date"].isoformat() != "2026-09-30"  # the linked date folder never loaded
        assert row["file_name"] not in (
            "household_survey_link.csv",
            "household_survey_hardlink.csv",
            "household_survey_fifo.csv",
            "x.csv",
            "testimonies_1.json",
        )
    refused = {r["path"]: r["reason"] for r in night["summary"]["extract"]["rejected"]}
    day = f"actionaid_vietnam/{NIGHT}"
    assert "symbolic link" in refused[f"{day}/household_survey_link.csv"]
    assert "FIFO" in refused[f"{day}/household_survey_fifo.csv"]
    if night["hard"]:
        assert "hard link" in refused[f"{day}/household_survey_hardlink.csv"]
    assert "symbolic link" in refused["actionaid_vietnam/2026-09-30"]
    assert "symbolic link" in refused["brac_bangladesh"]
    assert "unknown partner folder" in refused["evil_partner"]
    assert "control" in refused[f"{day}/household_survey_x\\x0aLNOB nightly run FORGED.csv"]
    assert "no file pattern" in refused[f"wnta_india/{night['wnta'].parent.name}/notes.txt"]


def test_a_file_name_cannot_forge_a_line_of_the_summary_or_report(night):
    assert not [line for line in night["text"].splitlines() if line.startswith("LNOB nightly run FORGED")]
    assert "household_survey_x\\x0aLNOB nightly run FORGED.csv" in night["text"]
    assert (
        "FORGED.csv" in night["html"].read_text()
        and "\nLNOB nightly run FORGED" not in night["html"].read_text()
    )


def test_a_planted_name_and_phone_never_reach_a_reason_the_ledger_or_the_run_log(night, db):
    result = night["results"]["household_survey_planted.csv"]
    errors = {e["column"]: e for e in result["reason"]["errors"]}
    assert errors["age"]["found"].startswith("text of 10 chars")  # the shape of the name, not the name
    assert errors["weight"]["found"] == "####-###-###"
    kept = Path(result["quarantine_path"])
    texts = {
        "reason file": kept.with_name(kept.name + ".reason.json").read_text(),
        "ledger": json.dumps([r["reason"] for r in _ledger(db)], default=str),
        "run_log": _run_log(db),
        "summary": night["text"],
        "report": night["html"].read_text(),
    }
    for where, text in texts.items():
        for planted in (NAME, NAME.split()[0], *PHONE_FORMS):
            assert planted not in text, (where, planted)


def test_what_the_night_writes_is_owner_only(night):
    cfg = night["cfg"]
    for folder in (cfg.landing_dir, cfg.quarantine_dir, cfg.reports_dir, cfg.airflow_home):
        assert _owner_only(folder), (folder, oct(folder.stat().st_mode))
    # LNOB_HOME: nobody else may list or write it; when the embedded warehouse runs as another
    # system user (root runs it as `pgserver`) that user may pass through to its data folder.
    home = stat.S_IMODE(cfg.home.stat().st_mode)
    passable = cfg.pgdata.stat().st_uid != os.getuid()
    assert home & 0o077 == (0o011 if passable else 0), oct(home)
    assert _owner_only(night["wnta"])  # was 0644 before the night
    for top in (cfg.quarantine_dir, cfg.reports_dir):
        for p in top.rglob("*"):
            assert _owner_only(p), (p, oct(p.lstat().st_mode))


def test_an_xlsx_bomb_is_refused_in_bounded_memory(tmp_path, warehouse_url):
    """The shared-strings bomb in a process of its own: its peak memory is the loader's alone."""
    (vso,) = sample.generate(
        tmp_path / "src", persons=20, seed=9, day=NIGHT, only=["vso_np_household_survey"]
    )
    bomb = hf.xlsx_with_big_shared_strings(
        vso, tmp_path / NIGHT.isoformat() / "VSO_Nepal_LNOB_bomb.xlsx", 1_200_000
    )
    # VmHWM: this process's own peak (ru_maxrss would include the forking test process's pages)
    code = (
        "import json, re, sys; from lnob.cli import main; rc = main(sys.argv[1:]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print(json.dumps({'rc': rc, 'peak_mb': int(hwm) / 1024}), file=sys.stderr)"
    )
    t = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, "load", "vso_np_household_survey", str(bomb)],
        capture_output=True,
        text=True,
        cwd=PROJECT,
        timeout=120,
    )
    seconds = time.monotonic() - t
    figures = json.loads(proc.stderr.strip().splitlines()[-1])
    assert figures["rc"] == 4, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["outcome"] == "quarantined" and out["reason"]["kind"] == "xlsx_too_large"
    print(f"shared-strings bomb: refused in {seconds:.1f} s, peak {figures['peak_mb']:.0f} MB")
    assert figures["peak_mb"] < 250, figures  # before: openpyxl read every shared string (784 MB)
    assert seconds < 30, seconds


def test_lnob_load_runs_the_raw_gate_of_the_dag(tmp_path, db):
    (path,) = sample.generate(tmp_path, persons=30, seed=12, day=date(2026, 10, 2), only=[AAVN])
    hf.write_rows(path, _set(hf.read_rows(path), 1, "age", "150"))  # a valid integer: the gate's to refuse
    done = lnob("load", AAVN, str(path))
    assert done.returncode == 4, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["outcome"] == "quarantined" and out["gate"] == "failed"
    with db.cursor() as cur:
        cur.execute(
            "select status, reason->>'kind' from lnob_meta.delivery_ledger where delivery_id = %s",
            (out["delivery_id"],),
        )
        assert cur.fetchone() == ("quarantined", "raw_gate_failed")


def test_lnob_load_refuses_a_link(tmp_path):
    (path,) = sample.generate(tmp_path, persons=10, seed=13, day=date(2026, 10, 3), only=[AAVN])
    link = path.with_name("household_survey_link.csv")
    link.symlink_to(path)
    done = lnob("load", AAVN, str(link))
    assert done.returncode == 2 and "symbolic link" in done.stderr, done.stdout + done.stderr


def test_raw_gate_samples_of_identifier_fields_are_masked(tmp_path, db, warehouse_url):
    """The same failing delivery through the same GX suite: the sample shows the age while age is
    an ordinary field, and only its shape once the registry marks it an identifier."""
    import psycopg2
    import yaml

    (path,) = sample.generate(tmp_path, persons=30, seed=14, day=date(2026, 10, 4), only=[AAVN])
    hf.write_rows(path, _set(hf.read_rows(path), 1, "age", "151"))
    reg = registry.load()
    conn = psycopg2.connect(warehouse_url)
    loaded = load.load_delivery(
        conn, reg, load.Delivery(AAVN, "actionaid_vietnam", "2026-10-04", str(path), load.file_sha256(path))
    )
    conn.close()
    assert loaded.outcome == "loaded"
    plain = gates.gate_raw(reg, AAVN, loaded.delivery_id, warehouse_url)
    (age,) = [f for f in plain.failed if f["column"] == "age"]
    assert 151 in age["sample"]

    doc = yaml.safe_load(reg.path.read_text())
    fields = next(s for s in doc["sources"] if s["id"] == AAVN)["fields"]
    next(f for f in fields if f["name"] == "age").update(identifier=True, required=False)
    marked = tmp_path / "registry.yml"
    marked.write_text(yaml.safe_dump(doc, sort_keys=False))
    masked = gates.gate_raw(registry.load(marked), AAVN, loaded.delivery_id, warehouse_url)
    (age,) = [f for f in masked.failed if f["column"] == "age"]
    assert 151 not in age["sample"] and "151" not in json.dumps(age) and age["sample"][0] == "a number"


def test_names_are_shown_in_a_safe_form():
    from lnob.ingest import landing
    from lnob.transform import masking

    assert landing.safe_name("a\nb\u202ec.csv") == "a\\x0ab\\u202ec.csv"
    assert landing.name_problem("ok name (1).csv") is None
    assert "control" in landing.name_problem("bad\rname.csv")
    assert (
        masking.excerpt("forty") == "forty"
        and masking.excerpt("+84 912 345 678")
        == "text of 15 chars: digits, spaces, other characters, 4 words"
    )
    assert masking.excerpt("Nguyen", sensitive=True) == "text of 6 chars: letters"
    assert masking.excerpt("0912-345-678") == "####-###-###"
    reason = {"kind": "contract_broken", "errors": [{"found": "x" * 5000} for _ in range(100)]}
    assert len(json.dumps(masking.bound_reason(reason, 4096))) <= 4096 and reason["errors_total"] == 100
