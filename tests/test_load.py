"""Loading deliveries: idempotent, lineage on every row, bad files quarantined with a reason."""

import csv
import json
from datetime import date
from pathlib import Path

import pytest
from helpers import csv_data_rows
from lnob import registry
from lnob.ingest import load
from lnob.platform import meta
from lnob_dev import sample

pytestmark = pytest.mark.integration

SOURCE = "aavn_household_survey"


def _delivery(path: Path, day: str) -> load.Delivery:
    return load.Delivery(SOURCE, "actionaid_vietnam", day, str(path), load.file_sha256(path))


@pytest.fixture
def reg():
    return registry.load()


def _count(db, delivery_id):
    with db.cursor() as cur:
        cur.execute(f"select count(*) from raw.{SOURCE} where _delivery_id = %s", (delivery_id,))
        return cur.fetchone()[0]


def test_same_delivery_twice_loads_once_with_lineage(db, reg, tmp_path, warehouse_url):
    import psycopg2

    (path,) = sample.generate(
        tmp_path, persons=500, seed=7, day=date(2025, 3, 1), only=["aavn_household_survey"]
    )
    conn = psycopg2.connect(warehouse_url)
    first = load.load_delivery(conn, reg, _delivery(path, "2025-03-01"))
    second = load.load_delivery(conn, reg, _delivery(path, "2025-03-01"))
    conn.close()
    rows = csv_data_rows(path)
    assert rows >= 500  # 500 persons, the fixed small cell and a few duplicate records
    assert first.outcome == "loaded" and first.rows_loaded == rows
    assert second.outcome == "duplicate"
    assert _count(db, first.delivery_id) == rows
    with db.cursor() as cur:
        cur.execute(
            f"""select min(_row_number), max(_row_number), count(distinct _file_sha256),
                               bool_and(_partner_id = 'actionaid_vietnam'), bool_and(_loaded_at is not null),
                               bool_and(person_id like 'AAVN-%%')
                        from raw.{SOURCE} where _delivery_id = %s""",
            (first.delivery_id,),
        )
        assert cur.fetchone() == (2, rows + 1, 1, True, True, True)


def test_corrected_redelivery_replaces_the_earlier_one(db, reg, tmp_path, warehouse_url):
    import psycopg2

    (path,) = sample.generate(
        tmp_path, persons=300, seed=8, day=date(2025, 3, 2), only=["aavn_household_survey"]
    )
    conn = psycopg2.connect(warehouse_url)
    first = load.load_delivery(conn, reg, _delivery(path, "2025-03-02"))
    sample.generate(
        tmp_path, persons=250, seed=9, day=date(2025, 3, 2), only=["aavn_household_survey"]
    )  # same name, new content
    second = load.load_delivery(conn, reg, _delivery(path, "2025-03-02"))
    conn.close()
    assert second.outcome == "loaded" and second.superseded == [first.delivery_id]
    assert _count(db, first.delivery_id) == 0
    assert _count(db, second.delivery_id) == csv_data_rows(path) >= 250


def _broken_copy(tmp_path: Path, day: str, mutate) -> Path:
    (path,) = sample.generate(
        tmp_path / "src", persons=50, seed=11, day=date.fromisoformat(day), only=["aavn_household_survey"]
    )
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    rows = mutate(rows)
    target = tmp_path / "actionaid_vietnam" / day / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return target


def _set(rows, row, column, value):
    rows[row][rows[0].index(column)] = value
    return rows


@pytest.mark.parametrize(
    "kind, mutate, expect",
    [
        (
            "wrong type",
            lambda r: _set(r, 5, "age", "forty"),
            {
                "kind": "contract_broken",
                "row": 6,
                "column": "age",
                "expected": "a whole number",
                "found": "forty",
            },
        ),
        (
            "renamed column",
            lambda r: _set(r, 0, "sex", "gender"),
            {"kind": "missing_required_field", "row": 1, "column": "sex"},
        ),
        (
            "truncated file",
            lambda r: r[:10] + [r[10][:5]],
            {"kind": "contract_broken", "row": 11, "column": None, "expected": "19 fields"},
        ),
    ],
)
def test_broken_delivery_is_quarantined_with_its_reason(kind, mutate, expect, reg, tmp_path, warehouse_url):
    import psycopg2
    from lnob.platform.config import settings

    path = _broken_copy(tmp_path, "2025-04-01", mutate)
    conn = psycopg2.connect(warehouse_url)
    result = load.load_delivery(conn, reg, _delivery(path, "2025-04-01"))
    conn.close()
    assert result.outcome == "quarantined", kind
    reason = result.reason
    assert reason["partner"] == "actionaid_vietnam" and reason["file"] == str(path)
    assert reason["kind"] == expect["kind"]
    err = reason["errors"][0]
    for key in ("row", "column", "expected", "found"):
        if key in expect:
            assert err[key] == expect[key], (kind, err)
    kept = Path(result.quarantine_path)
    assert kept.read_bytes() == path.read_bytes()  # nothing is lost
    assert json.loads(kept.with_name(kept.name + ".reason.json").read_text())["kind"] == expect["kind"]
    assert str(settings().quarantine_dir) in str(kept)


def test_wrong_encoding_is_quarantined(reg, tmp_path, warehouse_url):
    import psycopg2

    path = _broken_copy(tmp_path, "2025-04-02", lambda r: _set(r, 3, "respondent_name", "Nguyễn"))
    path.write_bytes(path.read_text(encoding="utf-8-sig").encode("utf-16"))
    conn = psycopg2.connect(warehouse_url)
    result = load.load_delivery(conn, reg, _delivery(path, "2025-04-02"))
    conn.close()
    assert result.outcome == "quarantined"
    assert result.reason["kind"] == "wrong_encoding"
    assert "utf-8-sig" in result.reason["errors"][0]["expected"]


def test_extra_column_is_kept_in_overflow(reg, tmp_path, warehouse_url, db):
    import psycopg2

    def add(rows):
        rows[0].append("new_question")
        for r in rows[1:]:
            r.append("42")
        return rows

    path = _broken_copy(tmp_path, "2025-04-03", add)
    conn = psycopg2.connect(warehouse_url)
    result = load.load_delivery(conn, reg, _delivery(path, "2025-04-03"))
    conn.close()
    assert result.outcome == "loaded" and result.unexpected_fields == ["new_question"]
    with db.cursor() as cur:
        cur.execute(
            f"select distinct _overflow->>'new_question' from raw.{SOURCE} where _delivery_id = %s",
            (result.delivery_id,),
        )
        assert cur.fetchall() == [("42",)]


def test_missing_pseudonym_key_fails_clearly(warehouse_url, monkeypatch):
    from lnob.transform import runner as transform

    monkeypatch.delenv("LNOB_PSEUDONYM_KEY")
    with pytest.raises(load.ConfigurationError, match="LNOB_PSEUDONYM_KEY is not set"):
        transform.dbt_env(warehouse_url)


def test_warehouse_hmac_equals_python_hmac(warehouse_url, db):
    """The pseudonym the warehouse computes from sha256() is RFC 2104 HMAC-SHA256, and a session
    without the key cannot compute one."""
    import os

    import psycopg2
    from lnob.transform import pseudonym

    key = "a-test-key-" + "x" * 70  # longer than the SHA-256 block: hashed first, as RFC 2104 says
    with db.cursor() as cur:
        meta.ensure(cur)
    db.commit()
    conn = psycopg2.connect(warehouse_url, options=pseudonym.pgoptions(key))
    with conn.cursor() as cur:
        cur.execute("select lnob_meta.pseudonym('vso_nepal', ' NP-20261121-00042 ')")
        assert cur.fetchone()[0] == pseudonym.pseudonym(key, "vso_nepal", "NP-20261121-00042")
    conn.close()
    conn = psycopg2.connect(warehouse_url, options=os.environ.get("PGOPTIONS", ""))
    with conn.cursor() as cur, pytest.raises(psycopg2.errors.RaiseException, match="LNOB_PSEUDONYM_KEY"):
        cur.execute("select lnob_meta.pseudonym('vso_nepal', 'x')")
    conn.close()


def test_quarantine_list_and_retry_after_a_registry_fix(reg, tmp_path, warehouse_url, db):
    import psycopg2
    import yaml
    from helpers import lnob

    path = _broken_copy(tmp_path, "2025-06-01", lambda r: _set(r, 0, "sex", "gender"))
    conn = psycopg2.connect(warehouse_url)
    first = load.load_delivery(conn, reg, _delivery(path, "2025-06-01"))
    conn.close()
    assert first.outcome == "quarantined"
    listed = lnob("quarantine", "list")
    assert listed.returncode == 0, listed.stderr
    line = next(x for x in listed.stdout.splitlines() if x.strip().startswith(str(first.delivery_id)))
    assert SOURCE in line and "missing_required_field" in line
    assert first.quarantine_path in listed.stdout

    # The partner renamed the column for good: the registry learns it, the delivery is retried.
    doc = yaml.safe_load(reg.path.read_text())
    vn = next(s for s in doc["sources"] if s["id"] == SOURCE)
    next(f for f in vn["fields"] if f["name"] == "sex")["source"] = "gender"
    fixed = tmp_path / "registry.yml"
    fixed.write_text(yaml.safe_dump(doc, sort_keys=False))
    retried = lnob("quarantine", "retry", str(first.delivery_id), env={"LNOB_REGISTRY": str(fixed)})
    assert retried.returncode == 0, retried.stdout + retried.stderr
    result = json.loads(retried.stdout)
    assert result["outcome"] == "loaded" and result["delivery_id"] == first.delivery_id
    assert _count(db, first.delivery_id) == csv_data_rows(path) > 0
    with db.cursor() as cur:
        cur.execute(
            "select status from lnob_meta.delivery_ledger where delivery_id = %s", (first.delivery_id,)
        )
        assert cur.fetchone() == ("loaded",)


@pytest.mark.slow  # generates and loads a 400k-person delivery
def test_a_load_killed_halfway_leaves_nothing_visible(reg, tmp_path, warehouse_url, db):
    """kill -9 of `lnob load` in the middle of its COPY: no row, no ledger entry; then it loads."""
    import os
    import signal
    import subprocess
    import time

    from helpers import BIN, PROJECT

    (path,) = sample.generate(tmp_path, persons=400_000, seed=31, day=date(2025, 7, 1), only=[SOURCE])
    sha = load.file_sha256(path)
    proc = subprocess.Popen(
        [str(BIN / "lnob"), "load", SOURCE, str(path)],
        cwd=PROJECT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    copying = False
    deadline = time.monotonic() + 60
    with db.cursor() as cur:
        while time.monotonic() < deadline and proc.poll() is None:
            cur.execute(
                "select count(*) from pg_stat_activity where query ilike 'copy raw.%%' and state = 'active'"
            )
            if cur.fetchone()[0]:
                copying = True
                break
            time.sleep(0.02)
        db.rollback()
    assert copying, "the COPY was never seen running"
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # the server notices the dropped connection and rolls back
    with db.cursor() as cur:
        cur.execute(f"select count(*) from raw.{SOURCE} where _file_sha256 = %s", (sha,))
        assert cur.fetchone()[0] == 0
        cur.execute("select count(*) from lnob_meta.delivery_ledger where file_sha256 = %s", (sha,))
        assert cur.fetchone()[0] == 0
    db.rollback()
    again = subprocess.run(
        [str(BIN / "lnob"), "load", SOURCE, str(path)], cwd=PROJECT, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads(again.stdout)["rows_loaded"] == csv_data_rows(path)
