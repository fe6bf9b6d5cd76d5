"""Raw -> staging is incremental by delivery: a night with new deliveries stages only those; a
changed code map restages its source only; a rotated pseudonym key restages everything."""

from datetime import date

import pytest
from helpers import clean_warehouse, lnob
from lnob import sample
from lnob.config import settings

pytestmark = pytest.mark.integration

STAGING = {
    "aavn_household_survey": "stg_aavn_household_survey__persons",
    "wnta_hotspot_survey": "stg_wnta_hotspot_survey__persons",
}


def _load_night(day: str, only: list[str]) -> None:
    for path in sample.generate(
        settings().landing_dir, persons=1500, seed=7, day=date.fromisoformat(day), only=only
    ):
        source_id = "aavn_household_survey" if "household_survey" in path.name else "wnta_hotspot_survey"
        r = lnob("load", source_id, str(path))
        assert r.returncode == 0, r.stdout + r.stderr


def _build(env: dict | None = None) -> None:
    r = lnob(
        "dbt", "build", "--select", "+int_persons_harmonised", "--indirect-selection", "cautious", env=env
    )
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def _staged(db) -> dict:
    """delivery -> (rows, when staged, one pseudonym)"""
    out = {}
    with db.cursor() as cur:
        for model in STAGING.values():
            cur.execute(f"""select delivery_id, count(*), min(staged_at), max(staged_at), min(person_pid)
                            from staging.{model} group by delivery_id""")
            out.update({r[0]: r[1:] for r in cur.fetchall()})
    return out


def _raw_rows(db) -> dict:
    out = {}
    with db.cursor() as cur:
        for source_id in STAGING:
            cur.execute(f"select _delivery_id, count(*) from raw.{source_id} group by 1")
            out.update(dict(cur.fetchall()))
    return out


@pytest.fixture(scope="module")
def clean(warehouse_url):
    import psycopg2

    clean_warehouse(warehouse_url)
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    yield conn
    conn.close()


def test_a_night_stages_only_its_new_deliveries(clean):
    db = clean
    _load_night("2026-10-01", ["aavn_household_survey", "wnta_hotspot_survey"])
    _build()
    first = _staged(db)
    assert {d: v[0] for d, v in first.items()} == _raw_rows(db)

    _load_night("2026-10-02", ["aavn_household_survey"])
    _build()
    second = _staged(db)
    assert {d: v[0] for d, v in second.items()} == _raw_rows(db)
    new = set(second) - set(first)
    assert len(new) == 1
    for delivery, before in first.items():  # history untouched: same rows, staged then, not now
        assert second[delivery] == before
    assert min(second[d][1] for d in new) > max(v[2] for v in first.values())


def test_a_changed_code_map_restages_its_source_only(clean):
    db = clean
    before = _staged(db)
    with db.cursor() as cur:
        # what `lnob registry seeds` writes when a partner's new spelling is added to the registry
        cur.execute("""insert into reference.partner_code_map (source_id, code_list, partner_code, canonical_code)
                       values ('wnta_hotspot_survey', 'caste', 'scheduled caste (sc)', 'CASTE_SC')""")
        cur.execute("select distinct _delivery_id from raw.wnta_hotspot_survey")
        wnta = {r[0] for r in cur.fetchall()}
    r = lnob("dbt", "run", "--select", "path:models/staging/community")  # `run`: the seed is not reloaded
    assert r.returncode == 0, r.stdout[-4000:]
    after = _staged(db)
    assert set(after) == set(before)
    for delivery, (rows, staged_first, staged_last, pid) in after.items():
        if delivery in wnta:
            assert staged_first > before[delivery][2] and rows == before[delivery][0]
        else:
            assert (rows, staged_first, staged_last, pid) == before[delivery]


def test_a_rotated_pseudonym_key_restages_everything(clean):
    db = clean
    before = _staged(db)
    _build(env={"LNOB_PSEUDONYM_KEY": "a-rotated-key"})
    after = _staged(db)
    assert set(after) == set(before)
    for delivery in before:
        assert after[delivery][0] == before[delivery][0]
        assert after[delivery][1] > before[delivery][2]
        assert after[delivery][3] != before[delivery][3]  # new pseudonyms under the new key
    with db.cursor() as cur:
        cur.execute("select count(*) from intermediate.int_persons_harmonised")
        assert cur.fetchone()[0] > 0
