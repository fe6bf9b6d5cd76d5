"""Raw -> staging is incremental by delivery: a night with new deliveries stages only those; a
changed code map restages its source only; a rotated pseudonym key restages everything."""

from datetime import date

import pytest
from helpers import clean_warehouse, lnob
from lnob.platform.config import settings
from lnob_dev import sample

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


# --------------------------------------------------------------------------------------------------
# A night builds only the staging of the sources whose deliveries changed, and what reads them
# (lnob.transform.runner.build_plan); after a sequence of such nights the result equals a from-scratch
# `dbt build --full-refresh`, row for row.
# --------------------------------------------------------------------------------------------------

#: Columns that say when a row was computed, not what it holds.
WHEN_COMPUTED = {"staged_at", "harmonised_at"}


def _deliver(url: str, day: str, only: list[str], seed: int = 7, persons: int = 600) -> list[int]:
    from lnob import registry
    from lnob.ingest import load
    from lnob.platform import warehouse

    cfg = settings()
    reg = registry.load()
    sample.generate(cfg.landing_dir, persons=persons, seed=seed, day=date.fromisoformat(day), only=only)
    with warehouse.connect(url) as conn:
        fresh, _ = load.new_deliveries(conn, reg, cfg.landing_dir, date.fromisoformat(day))
        return [load.load_delivery(conn, reg, d, "test", cfg).delivery_id for d in fresh]


def _night(url: str) -> list[str] | None:
    """The dbt stage of a night as the benchmark and `transform` run it; the sources it staged
    (None: every one). The nodes it ran are in ``NODES``."""
    from lnob import pipeline, registry
    from lnob.transform import runner as transform

    cfg = settings()
    pipeline.prepare_transform(url, registry.load(), cfg)
    plan = transform.build_plan(url, cfg)
    NODES[:] = [r["node"] for r in transform.build_audit(url, cfg)[0].results]
    return plan.changed


NODES: list[str] = []


def _fine_cell_versions(db) -> dict[str, str]:
    """fine cell -> the row version (xmin) holding it: which cells a night rewrote."""
    with db.cursor() as cur:
        cur.execute("select fine_cell_id::text, xmin::text from intermediate.int_sdg_fine_cells")
        return dict(cur.fetchall())


def _deliver_edits(url: str, day: str) -> None:
    """A further ODK page of aak_clm_survey: the first loaded submission rejected by the reviewers,
    the second moved to another household (edits: same __id, a later submission date)."""
    import json
    from datetime import datetime, timedelta

    from lnob import registry
    from lnob.ingest import load
    from lnob.platform import warehouse

    cfg = settings()
    reg = registry.load()
    pages = sorted((cfg.landing_dir / reg.source("aak_clm_survey").partner).glob("*/Submissions_page-*.json"))
    latest = json.loads(pages[-1].read_text())

    def household(sub: dict) -> str:
        return sub["respondent"]["household_code"]

    # three households: the rejection's, the mover's (which it leaves) and the one it joins
    first = latest["value"][0]
    second = next(s for s in latest["value"] if household(s) != household(first))
    third = next(s for s in latest["value"] if household(s) not in (household(first), household(second)))
    first["__system"]["reviewState"] = "rejected"
    second["respondent"]["household_code"] = household(third)
    for n, sub in enumerate((first, second)):
        submitted = datetime.fromisoformat(sub["__system"]["submissionDate"].replace("Z", "+00:00"))
        when = submitted + timedelta(days=1)
        sub["__system"]["submissionDate"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        sub["meta"] = {"instanceID": f"uuid:edit-{day}-{n}", "deprecatedID": sub["meta"]["instanceID"]}
    folder = cfg.landing_dir / reg.source("aak_clm_survey").partner / day
    folder.mkdir(parents=True)
    body = {**latest, "value": [first, second], "@odata.count": 2}
    body.pop("@odata.nextLink", None)
    (folder / "Submissions_page-0001.json").write_text(json.dumps(body))
    with warehouse.connect(url) as conn:
        fresh, _ = load.new_deliveries(conn, reg, cfg.landing_dir, date.fromisoformat(day))
        assert len(fresh) == 1
        load.load_delivery(conn, reg, fresh[0], "test", cfg)


def _snapshot(db, into: str) -> list[str]:
    """Every table dbt builds in staging, intermediate and the audit schema, copied into schema
    ``into`` (as ``<schema>__<table>``) without the columns that say when a row was computed, and
    with floating-point sums to 9 decimals (a sum of doubles depends on the order rows are read in,
    which an incremental table and a rebuilt one do not share). Returns the tables copied."""
    with db.cursor() as cur:
        cur.execute(f"drop schema if exists {into} cascade; create schema {into}")
        cur.execute(
            """select table_schema, table_name,
                      string_agg(case when data_type in ('double precision', 'real', 'numeric')
                                      then format('round(%%I::numeric, 9) as %%I', column_name, column_name)
                                      else quote_ident(column_name) end,
                                 ', ' order by ordinal_position)
                 from information_schema.columns
                where table_schema in ('staging', 'intermediate', 'marts_audit')
                  and column_name <> all(%s)
                group by 1, 2 order by 1, 2""",
            (sorted(WHEN_COMPUTED),),
        )
        tables = []
        for schema, table, columns in cur.fetchall():
            cur.execute(
                f'create table {into}."{schema}__{table}" as select {columns} from "{schema}"."{table}"'
            )
            tables.append(f"{schema}__{table}")
    return tables


def _differences(db, a: str, b: str, tables: list[str]) -> dict[str, tuple[int, int, int]]:
    """table -> (rows, rows only in a, rows only in b) of the tables that differ."""
    out = {}
    with db.cursor() as cur:
        for t in tables:
            cur.execute(
                f"""select (select count(*) from {a}."{t}"),
                           (select count(*) from (select * from {a}."{t}" except all select * from {b}."{t}") x),
                           (select count(*) from (select * from {b}."{t}" except all select * from {a}."{t}") y)"""
            )
            rows, only_a, only_b = cur.fetchone()
            if only_a or only_b:
                out[t] = (rows, only_a, only_b)
    return out


@pytest.fixture(scope="module")
def nights(warehouse_url):
    import psycopg2

    clean_warehouse(warehouse_url, landing=True)
    conn = psycopg2.connect(warehouse_url)
    conn.autocommit = True
    yield warehouse_url, conn
    conn.close()


def test_incremental_nights_equal_a_full_refresh_row_for_row(nights):
    from lnob import registry
    from lnob.ingest import load
    from lnob.transform import runner as transform

    url, db = nights
    community = ["aavn_household_survey", "wnta_hotspot_survey", "aak_clm_survey"]
    _deliver(url, "2026-11-01", [*community, "knbs_sdg_sdmx", "aak_voices"])
    assert _night(url) is None  # the first night builds everything
    assert _night(url) == []  # nothing new: no staging, only the marts and the review queue's models

    _deliver(url, "2026-11-02", ["aavn_household_survey", "wnta_hotspot_survey"], seed=8)
    assert _night(url) == ["aavn_household_survey", "wnta_hotspot_survey"]
    # the sources without a new delivery: neither staged nor their staging tested again
    assert [n for n in NODES if "knbs" in n or "aak_" in n] == []
    assert "model.lnob.stg_wnta_hotspot_survey__persons" in NODES
    assert "model.lnob.int_sdg_cells_suppressed" in NODES

    # a corrected re-delivery: the same file of the same day again, other content
    replaced = _deliver(url, "2026-11-02", ["wnta_hotspot_survey"], seed=9)
    assert len(replaced) == 1
    with db.cursor() as cur:
        cur.execute("select count(*) from lnob_meta.delivery_ledger where replaced_by = %s", (replaced[0],))
        assert cur.fetchone()[0] == 1
    assert _night(url) == ["wnta_hotspot_survey"]

    # a partner withdraws: every delivery of it leaves
    with db.cursor() as cur:
        cur.execute(
            "select delivery_id from lnob_meta.delivery_ledger where source_id = 'aak_clm_survey' and status = 'loaded'"
        )
        withdrawn = [r[0] for r in cur.fetchall()]
    assert withdrawn
    cfg = settings()
    reg = registry.load()
    import psycopg2

    for delivery_id in withdrawn:
        with psycopg2.connect(url) as conn:
            load.unload_delivery(
                conn, reg, delivery_id, {}, cfg, status="unloaded", by="test", why="partner withdrew"
            )
    assert _night(url) == ["aak_clm_survey"]
    with db.cursor() as cur:
        cur.execute(
            "select count(*) from intermediate.int_persons_harmonised where source_id = 'aak_clm_survey'"
        )
        assert cur.fetchone()[0] == 0

    _deliver(url, "2026-11-03", ["aak_clm_survey", "aavn_household_survey"], seed=10)
    assert _night(url) == ["aak_clm_survey", "aavn_household_survey"]

    # the reviewers reject a submission and an edit moves a respondent to another household (the
    # partner's next page: same __id, later submission date); the fine cells are kept by delta
    fine_before = _fine_cell_versions(db)
    _deliver_edits(url, "2026-11-04")
    assert _night(url) == ["aak_clm_survey"]
    fine_after = _fine_cell_versions(db)
    kept = set(fine_before.items()) & set(fine_after.items())
    assert kept and len(kept) < len(fine_after)  # only the changed cells were rewritten
    with db.cursor() as cur:
        cur.execute(
            "select count(*) from intermediate.int_persons_harmonised where source_id = 'aak_clm_survey' and is_rejected"
        )
        assert cur.fetchone()[0] >= 1

    # one delivery unloaded (not a whole partner): its persons leave their households
    with db.cursor() as cur:
        cur.execute(
            """select max(delivery_id) from lnob_meta.delivery_ledger
                where source_id = 'aavn_household_survey' and status = 'loaded'"""
        )
        (one,) = cur.fetchone()
    with psycopg2.connect(url) as conn:
        load.unload_delivery(conn, reg, one, {}, cfg, status="unloaded", by="test", why="sent by mistake")
    assert _night(url) == ["aavn_household_survey"]

    incremental = _snapshot(db, "incremental_nights")
    assert "intermediate__int_sdg_cells_suppressed" in incremental
    assert "marts_audit__fct_lnob_gap" in incremental
    with db.cursor() as cur:
        cur.execute("drop schema if exists staging, intermediate, marts_audit cascade")
    transform.run_dbt(
        ["build", "--full-refresh", "--exclude", transform.MART_TESTS, transform.UNIT_TESTS],
        url,
        cfg,
    )
    scratch = _snapshot(db, "from_scratch")
    assert scratch == incremental
    assert _differences(db, "incremental_nights", "from_scratch", scratch) == {}
    with db.cursor() as cur:
        cur.execute("drop schema incremental_nights, from_scratch cascade")
