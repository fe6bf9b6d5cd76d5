"""Deliveries are identified by content, and the raw layer follows its contract (issue 12).

On the session's embedded PostgreSQL, with the real DAG (`airflow dags test`), dbt-free stages of
``lnob.pipeline``, the GX raw gate and the `lnob` command line:

- a KoboToolbox night fetched from the local test server by the DAG, then fetched again (the night
  failed and was re-triggered, the incremental cursor has moved on): no submission of the first
  fetch leaves raw, an edited submission supersedes its earlier version by key, and a fetch that
  finds nothing new lands no file, no delivery and no quarantine;
- a file drop's corrected re-delivery still replaces the earlier one, and the ledger names by which;
- a contract change (integer -> text, a required field removed) migrates the raw table and the raw
  gate's suite on the next load, with no manual SQL or scaffold; a narrowing change that loaded
  values do not fit is refused, naming source, column and values;
- `lnob delivery unload` then `lnob delivery reload` gives back the same rows.
"""

from __future__ import annotations

import copy
import json
import shutil
from datetime import date
from pathlib import Path

import psycopg2
import pytest
import yaml
from api_server import TOKEN, FakePlatforms
from helpers import PROJECT, clean_warehouse, lnob
from lnob import pipeline, registry
from lnob.ingest import connectors, load
from lnob.platform import meta
from lnob.platform.config import settings
from lnob.quality import gates
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = "2026-11-24"
KOBO = "brac_uhc_survey"


@pytest.fixture(scope="module")
def reg():
    return registry.load()


@pytest.fixture(scope="module")
def warehouse(warehouse_url):
    """An empty warehouse and landing folder for this module."""
    clean_warehouse(warehouse_url, landing=True)
    return warehouse_url


@pytest.fixture(scope="module")
def kobo(tmp_path_factory, reg, warehouse):
    """The local KoboToolbox server, serving the older half of a night's submissions at first."""
    generated = tmp_path_factory.mktemp("kobo-source")
    sample.generate(generated, persons=1500, seed=31, day=date.fromisoformat(NIGHT), only=[KOBO])
    server = FakePlatforms.from_landing(generated, reg)
    everything = sorted(server.kobo_results, key=lambda r: r["_submission_time"])
    server.all_results = everything
    server.kobo_results = everything[: len(everything) // 2]
    yield server
    server.close()


def _later(timestamp: str) -> str:
    """A KoboToolbox submission time a minute after ``timestamp``, in the platform's format."""
    from datetime import datetime, timedelta

    return (datetime.fromisoformat(timestamp) + timedelta(minutes=1)).isoformat()


def _endpoint(server) -> connectors.Endpoint:
    return connectors.Endpoint(server.url, token=TOKEN)


def _raw_submissions(db) -> dict[int, set]:
    """Per KoboToolbox `_id` in raw, the instance ids of its current (not superseded) version."""
    with db.cursor() as cur:
        cur.execute(f"""select record_key, array_agg(distinct instance_id) filter (where _superseded_by is null)
                        from raw.{KOBO} group by record_key""")
        return {k: set(v or []) for k, v in cur.fetchall()}


def _ledger(db, source_id: str) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(
            """select delivery_id, file_name, status from lnob_meta.delivery_ledger
                       where source_id = %s order by delivery_id""",
            (source_id,),
        )
        return cur.fetchall()


def _pages(night: str) -> list[Path]:
    return sorted((settings().landing_dir / "brac_bangladesh" / night).glob("submissions_page-*.json"))


def _fetch_and_load(url: str, run_id: str, server) -> tuple[dict, list[dict]]:
    """A re-triggered night's fetch, extract, load and raw gate for the KoboToolbox source: the
    DAG's own stage functions, as its tasks call them."""
    night = date.fromisoformat(NIGHT)
    fetched = pipeline.fetch_source(url, run_id, night, KOBO, _endpoint(server))
    loaded = [
        pipeline.gate_raw(url, run_id, pipeline.load_raw(url, run_id, d))
        for d in pipeline.extract(url, run_id, night)
    ]
    return fetched, loaded


class _Down(set):
    """Paths that answer 500 until the set is cleared (``FakePlatforms.fail_once`` forgets)."""

    def discard(self, item) -> None:
        pass


def _connection(server, token: str = TOKEN) -> str:
    return json.dumps(
        {
            "conn_type": "http",
            "host": "127.0.0.1",
            "port": int(server.url.rsplit(":", 1)[1]),
            "schema": "http",
            "password": token,
        }
    )


def _night_by_dag(server, registry_path: Path) -> tuple[dict, str]:
    connection = _connection(server)
    run = lnob(
        "airflow",
        "dags",
        "test",
        "lnob_nightly",
        NIGHT,
        timeout=1500,
        env={
            "LNOB_TASK_RETRIES": "0",
            "AIRFLOW_CONN_LNOB_KOBO_BRAC": connection,
            "LNOB_REGISTRY": str(registry_path),
        },
    )
    summary = json.loads((settings().reports_dir / NIGHT / "summary.json").read_text())
    return summary, run.stdout[-3000:] + run.stderr[-3000:]


def test_a_night_fetched_twice_keeps_every_submission_of_the_first_fetch(
    kobo, warehouse, db, tmp_path, monkeypatch
):
    # pages of 50 submissions, so that a fetch can fail half-way
    paged = _changed_registry(tmp_path, "paged", KOBO, lambda s: s["format"].update(page_size=50))
    monkeypatch.setenv("LNOB_REGISTRY", str(paged.path))
    src = paged.source(KOBO)
    first_half = kobo.kobo_results

    # 1. the night, by the real DAG: the KoboToolbox server fails for good on the third page, so the
    #    fetch task fails after landing two pages, which load; the night fails
    kobo.fail_once = _Down({f"/api/v2/assets/{src.format['asset_uid']}/data/?100"})
    summary, output = _night_by_dag(kobo, paged.path)
    assert not summary["complete"] and any(
        p.startswith(f"fetch {KOBO} failed") for p in summary["problems"]
    ), output
    first = {r["_id"]: r for r in first_half[:100]}
    assert set(_raw_submissions(db)) == set(first), output
    pages_first = _pages(NIGHT)
    assert len(pages_first) == 2 and {s for _, _, s in _ledger(db, KOBO)} == {"loaded"}, output
    snapshot = {p: p.read_bytes() for p in pages_first}

    # 2. the platform is back, more submissions arrived and one loaded submission was edited; the
    #    night is re-triggered: the DAG fetches what is newer than the newest submission in raw
    kobo.fail_once = set()
    edited = copy.deepcopy(first_half[1])
    edited["meta/deprecatedID"] = edited["meta/instanceID"]
    edited["meta/instanceID"] = "uuid:00000000-0000-4000-8000-0000000000ed"
    edited["_submission_time"] = _later(max(r["_submission_time"] for r in kobo.all_results))
    kobo.kobo_results = [*kobo.all_results, edited]
    summary, output = _night_by_dag(kobo, paged.path)
    assert summary["sources"][KOBO]["quarantined"] == 0, output

    now = _raw_submissions(db)
    lost = [k for k in first if not now.get(k)]
    assert lost == [], f"{len(lost)} of {len(first)} submissions of the first fetch left raw"
    # the first fetch's pages are untouched, the second fetch's are new files
    assert all(p.read_bytes() == b for p, b in snapshot.items())
    assert len(_pages(NIGHT)) > len(pages_first)
    assert set(now) == {r["_id"] for r in kobo.all_results}
    assert now[edited["_id"]] == {edited["meta/instanceID"]}  # the edit supersedes by key
    assert {s for _, _, s in _ledger(db, KOBO)} == {"loaded"}
    # ... and through dbt: every current submission's members are harmonised persons
    assert "transform" in summary["stages_logged"], output
    with db.cursor() as cur:
        cur.execute(f"select count(*) from raw.{KOBO} where _superseded_by is null")
        current_members = cur.fetchone()[0]
        cur.execute("select count(*) from intermediate.int_persons_harmonised where source_id = %s", (KOBO,))
        assert cur.fetchone()[0] == current_members == sum(len(r["hh_roster"]) for r in kobo.all_results)

    # 3. re-triggered once more: nothing new on the server, nothing lands, nothing is quarantined
    ledger_before, pages_before = _ledger(db, KOBO), _pages(NIGHT)
    fetched, loaded = _fetch_and_load(warehouse, "retrigger-2", kobo)
    assert fetched["pages"] == 0 and loaded == []
    assert _pages(NIGHT) == pages_before and _ledger(db, KOBO) == ledger_before
    assert _raw_submissions(db) == now


def test_a_refused_token_fails_the_fetch_at_once_though_tasks_have_retries(kobo, warehouse, db):
    """A wrong token will not be right five minutes later: the fetch fails on its first try
    (``RequestRefused`` is ``NotRetryable``), although every task of the night has two retries."""
    night = "2026-11-30"
    kobo.hits.clear()
    run = lnob(
        "airflow",
        "dags",
        "test",
        "lnob_nightly",
        night,
        timeout=1500,
        env={
            "LNOB_TASK_RETRIES": "2",
            "LNOB_TASK_RETRY_DELAY": "20",
            "AIRFLOW_CONN_LNOB_KOBO_BRAC": _connection(kobo, token="not-the-token"),
        },
    )
    output = run.stdout[-3000:] + run.stderr[-3000:]
    assert run.returncode != 0, output
    assert len(kobo.hits) == 1, kobo.hits  # one request: neither the connector nor Airflow tried again
    with db.cursor() as cur:
        cur.execute(
            """select outcome, detail->>'error' from lnob_meta.run_log
               where stage = 'fetch' and subject = %s order by logged_at desc limit 1""",
            (KOBO,),
        )
        outcome, error = cur.fetchone()
    assert outcome == "failed" and "401" in error and "lnob_kobo_brac" in error, error
    summary = json.loads((settings().reports_dir / night / "summary.json").read_text())
    assert any(p.startswith(f"fetch {KOBO} failed") for p in summary["problems"]), summary["problems"]


def test_a_page_name_is_never_reused_and_an_identical_page_lands_once(kobo, reg, tmp_path):
    src = reg.source(KOBO)
    kobo.kobo_results = kobo.all_results[:3]
    first = connectors.fetch(src, _endpoint(kobo), tmp_path, stamp="20261124T020000000000Z")
    again = connectors.fetch(src, _endpoint(kobo), tmp_path, stamp="20261124T030000000000Z")
    assert len(first) == 1 and again == []  # byte-identical to a landed page: not landed twice
    kept = first[0].read_bytes()
    # even under the same fetch stamp (a clock set back), other content lands under another name
    kobo.kobo_results = kobo.all_results[:4]
    more = connectors.fetch(src, _endpoint(kobo), tmp_path, stamp="20261124T020000000000Z")
    assert len(more) == 1 and more[0].name != first[0].name
    assert more[0].name.startswith("submissions_page-20261124T020000000000Z-0001-")
    assert first[0].read_bytes() == kept and len(list(tmp_path.glob("*.json"))) == 2
    assert fnmatch_pattern(src, more[0])
    kobo.kobo_results = []  # nothing new: no file, not even an empty page
    assert connectors.fetch(src, _endpoint(kobo), tmp_path / "empty") == []
    assert not (tmp_path / "empty").exists() or not list((tmp_path / "empty").iterdir())


def fnmatch_pattern(src, path: Path) -> bool:
    """The landing scanner still recognises a fetched page as the source's."""
    import fnmatch

    return fnmatch.fnmatch(path.name, src.file_pattern)


def _page(results: list[dict]) -> dict:
    return {"count": len(results), "next": None, "previous": None, "results": results}


def _land(folder: Path, name: str, content: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _load(warehouse_url, reg, source_id: str, path: Path, day: str, registry_=None) -> load.LoadResult:
    src = (registry_ or reg).source(source_id)
    conn = psycopg2.connect(warehouse_url)
    try:
        return load.load_delivery(
            conn, registry_ or reg, load.Delivery(src.id, src.partner, day, str(path), load.file_sha256(path))
        )
    finally:
        conn.close()


def test_an_api_page_with_an_earlier_pages_name_adds_and_replaces_nothing(kobo, reg, tmp_path, warehouse, db):
    """The loader itself: a fetched page is never a corrected re-delivery, whatever its name."""
    subs = copy.deepcopy(kobo.all_results[:6])
    for r in subs:
        r["_id"] += 2_000_000_000
    a = _load(
        warehouse,
        reg,
        KOBO,
        _land(tmp_path / "a", "submissions_page-0001.json", _page(subs[:3])),
        "2025-06-02",
    )
    b = _load(
        warehouse,
        reg,
        KOBO,
        _land(tmp_path / "b", "submissions_page-0001.json", _page(subs[3:])),
        "2025-06-02",
    )
    assert a.outcome == b.outcome == "loaded" and b.superseded is None
    with db.cursor() as cur:
        cur.execute(
            f"select count(distinct record_key) from raw.{KOBO} where _delivery_id in (%s, %s)",
            (a.delivery_id, b.delivery_id),
        )
        assert cur.fetchone()[0] == 6
    assert {s for i, _, s in _ledger(db, KOBO) if i in (a.delivery_id, b.delivery_id)} == {"loaded"}


def test_a_corrected_file_drop_replaces_the_earlier_one_and_the_ledger_says_by_which(
    reg, tmp_path, warehouse, db
):
    source = "plan_india_hotspot_survey"
    day = date(2025, 7, 1)
    (path,) = sample.generate(tmp_path, persons=200, seed=1, day=day, only=[source])
    first = _load(warehouse, reg, source, path, day.isoformat())
    sample.generate(tmp_path, persons=150, seed=2, day=day, only=[source])  # same name, new content
    second = _load(warehouse, reg, source, path, day.isoformat())
    assert first.outcome == second.outcome == "loaded" and second.superseded == [first.delivery_id]
    with db.cursor() as cur:
        cur.execute(f"select _delivery_id, count(*) from raw.{source} group by 1")
        assert dict(cur.fetchall()) == {second.delivery_id: second.rows_loaded}
        cur.execute(
            """select status, replaced_by, reason->>'kind', (reason->>'replaced_by')::bigint,
                              change_reason, changed_at is not null
                       from lnob_meta.delivery_ledger where delivery_id = %s""",
            (first.delivery_id,),
        )
        status, replaced_by, kind, reason_by, why, stamped = cur.fetchone()
        assert (status, replaced_by, kind, reason_by, stamped) == (
            "superseded",
            second.delivery_id,
            "replaced",
            second.delivery_id,
            True,
        )
        assert str(second.delivery_id) in why
        cur.execute(
            """select action, status from lnob_meta.delivery_events where delivery_id = %s
                       order by event_id""",
            (first.delivery_id,),
        )
        assert cur.fetchall() == [("load", "loaded"), ("replace", "superseded")]


def _raw_rows(db, table: str) -> list[str]:
    with db.cursor() as cur:
        cur.execute(f"select (to_jsonb(t) - '_loaded_at')::text from raw.{table} as t order by 1")
        return [r[0] for r in cur.fetchall()]


def subs_members(subs: list[dict]) -> list:
    return [m for r in subs for m in r["hh_roster"]]


def _staged(db, delivery_id: int) -> int:
    with db.cursor() as cur:
        cur.execute(
            f"select count(*) from staging.stg_{KOBO}__household_members where delivery_id = %s",
            (delivery_id,),
        )
        return cur.fetchone()[0]


def _harmonised_from(db, delivery_id: int) -> int:
    with db.cursor() as cur:
        cur.execute(
            "select count(*) from intermediate.int_persons_harmonised where delivery_id = %s", (delivery_id,)
        )
        return cur.fetchone()[0]


def test_unload_then_reload_restores_the_same_rows(kobo, reg, tmp_path, warehouse, db):
    subs = copy.deepcopy(kobo.all_results[10:14])
    for r in subs:
        r["_id"] += 1_000_000_000
    folder = tmp_path / "brac_bangladesh" / "2025-06-01"
    original = _load(
        warehouse, reg, KOBO, _land(folder, "submissions_page-0001.json", _page(subs)), "2025-06-01"
    )
    edit = copy.deepcopy(subs[2])
    edit["meta/deprecatedID"], edit["meta/instanceID"] = (
        edit["meta/instanceID"],
        "uuid:00000000-0000-4000-8000-00000000e417",
    )
    edit["_submission_time"] = _later(edit["_submission_time"])
    edit_path = _land(folder, "submissions_page-0002.json", _page([edit]))
    edited = _load(warehouse, reg, KOBO, edit_path, "2025-06-01")
    assert original.outcome == edited.outcome == "loaded"
    before = _raw_rows(db, KOBO)

    out = lnob(
        "delivery",
        "unload",
        str(edited.delivery_id),
        "--reason",
        "partner withdrew the edit",
        env={"LNOB_ACTOR": "test-operator"},
    )
    assert out.returncode == 0, out.stderr
    with db.cursor() as cur:
        cur.execute(f"select count(*) from raw.{KOBO} where _delivery_id = %s", (edited.delivery_id,))
        assert cur.fetchone()[0] == 0
        cur.execute(
            f"""select count(*) filter (where _superseded_by is null), count(*) from raw.{KOBO}
                        where record_key = %s""",
            (edit["_id"],),
        )
        current, total = cur.fetchone()
        assert current == total == len(edit["hh_roster"])  # the earlier version is current again
        cur.execute(
            """select status, changed_by, change_reason, rows_loaded, reason->>'kind'
                       from lnob_meta.delivery_ledger where delivery_id = %s""",
            (edited.delivery_id,),
        )
        assert cur.fetchone() == ("unloaded", "test-operator", "partner withdrew the edit", 0, "unloaded")
    # staging and the harmonised persons follow on the next transform: the edit's rows go, the
    # earlier version of the submission is the current person again
    pipeline.transform_stage(warehouse, "after-unload")
    assert _staged(db, edited.delivery_id) == 0 and _staged(db, original.delivery_id) == len(
        subs_members(subs)
    )
    assert _harmonised_from(db, edited.delivery_id) == 0
    assert _harmonised_from(db, original.delivery_id) == len(subs_members(subs))
    again = lnob("delivery", "unload", str(edited.delivery_id), "--reason", "twice")
    assert again.returncode == 2 and "is unloaded, not loaded" in again.stderr

    out = lnob(
        "delivery",
        "reload",
        str(edited.delivery_id),
        "--reason",
        "edit confirmed",
        env={"LNOB_ACTOR": "test-operator"},
    )
    assert out.returncode == 0, out.stderr + out.stdout
    assert json.loads(out.stdout)["delivery_id"] == edited.delivery_id
    assert _raw_rows(db, KOBO) == before  # the same rows, lineage, row numbers and supersession
    with db.cursor() as cur:
        cur.execute(
            """select action, status, actor, reason, rows_loaded from lnob_meta.delivery_events
                       where delivery_id = %s order by event_id""",
            (edited.delivery_id,),
        )
        assert cur.fetchall() == [
            ("load", "loaded", "pipeline", None, len(edit["hh_roster"])),
            ("unload", "unloaded", "test-operator", "partner withdrew the edit", 0),
            ("reload", "loaded", "test-operator", "edit confirmed", len(edit["hh_roster"])),
        ]
    pipeline.transform_stage(warehouse, "after-reload")
    assert _staged(db, edited.delivery_id) == len(edit["hh_roster"])
    assert _harmonised_from(db, edited.delivery_id) == len(edit["hh_roster"])
    assert _harmonised_from(db, original.delivery_id) == len(subs_members(subs)) - len(edit["hh_roster"])
    history = lnob("delivery", "history", str(edited.delivery_id))
    assert history.returncode == 0 and "partner withdrew the edit" in history.stdout

    # a file changed since it was loaded is a new delivery, not a reload
    assert lnob("delivery", "unload", str(edited.delivery_id), "--reason", "again").returncode == 0
    edit_path.write_text(json.dumps(_page([edit])) + " ")
    refused = lnob("delivery", "reload", str(edited.delivery_id), "--reason", "changed file")
    assert refused.returncode == 2 and "changed since it was loaded" in refused.stderr


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """The project with a copy of its GX context: a test that changes a contract must not rewrite
    the committed suites."""
    project = tmp_path / "project"
    shutil.copytree(
        PROJECT / "expectations",
        project / "expectations",
        ignore=shutil.ignore_patterns("data_docs", "validations"),
    )
    for shared in ("dbt_project", "include"):
        (project / shared).symlink_to(PROJECT / shared)
    monkeypatch.setenv("LNOB_PROJECT_DIR", str(project))
    monkeypatch.setenv("LNOB_GX_PROJECT_DIR", str(project / "expectations"))
    return project


def _changed_registry(tmp_path: Path, name: str, source_id: str, change) -> registry.Registry:
    doc = yaml.safe_load(registry.load().path.read_text())
    (src,) = [s for s in doc["sources"] if s["id"] == source_id]
    change(src)
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return registry.load(path)


def _retype(field: str, new_type: str):
    def change(src):
        next(f for f in src["fields"] if f["name"] == field)["type"] = new_type

    return change


def _column_type(db, table: str, column: str) -> str:
    with db.cursor() as cur:
        cur.execute(
            """select data_type from information_schema.columns
                       where table_schema = 'raw' and table_name = %s and column_name = %s""",
            (table, column),
        )
        row = cur.fetchone()
        return row[0] if row else None


@pytest.fixture
def aavn_restored(reg, warehouse):
    """Afterwards, raw.aavn_household_survey as the registry has it again (the other modules of
    the session load it): this test's deliveries out, the column types back."""
    yield
    conn = psycopg2.connect(warehouse)
    with conn, conn.cursor() as cur:
        cur.execute("""delete from lnob_meta.delivery_ledger where source_id = 'aavn_household_survey'
                       and delivery_date between '2025-08-01' and '2025-08-03' returning delivery_id""")
        ids = [r[0] for r in cur.fetchall()]
        cur.execute("delete from raw.aavn_household_survey where _delivery_id = any(%s)", (ids,))
        load.ensure_raw_table(cur, reg.source("aavn_household_survey"))
    conn.close()


def test_a_contract_change_migrates_raw_and_its_gate_on_the_next_load(
    reg, tmp_path, project_copy, warehouse, db, aavn_restored
):
    import csv

    source = "aavn_household_survey"
    (first_file,) = sample.generate(tmp_path / "n1", persons=200, seed=3, day=date(2025, 8, 1), only=[source])
    first = _load(warehouse, reg, source, first_file, "2025-08-01")
    assert first.outcome == "loaded" and _column_type(db, source, "age") == "bigint"
    with db.cursor() as cur:
        cur.execute(
            f"select _row_number, age from raw.{source} where _delivery_id = %s", (first.delivery_id,)
        )
        ages_before = dict(cur.fetchall())

    # the registry now says: age is text (a partner sends "forty"), household_id is no longer sent
    def change(src):
        _retype("age", "text")(src)
        src["fields"] = [f for f in src["fields"] if f["name"] != "household_id"]

    changed = _changed_registry(tmp_path, "changed", source, change)
    ctx = gates.context()
    assert not gates.raw_suite_is_current(ctx, changed, source)  # the committed suite is outdated now

    (second_file,) = sample.generate(
        tmp_path / "n2", persons=120, seed=4, day=date(2025, 8, 2), only=[source]
    )
    with second_file.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index("household_id")
    rows = [[v for i, v in enumerate(r) if i != drop] for r in rows]
    rows[4][rows[0].index("age")] = "forty"
    with second_file.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    second = _load(warehouse, reg, source, second_file, "2025-08-02", registry_=changed)
    assert second.outcome == "loaded", second.reason
    assert second.rows_loaded == len(rows) - 1

    # raw migrated: age is text, every earlier value kept; household_id kept with its history
    assert _column_type(db, source, "age") == "text"
    assert _column_type(db, source, "household_id") == "text"
    with db.cursor() as cur:
        cur.execute(
            f"select _row_number, age from raw.{source} where _delivery_id = %s", (first.delivery_id,)
        )
        assert dict(cur.fetchall()) == {k: str(v) for k, v in ages_before.items()}
        cur.execute(
            f"""select count(*) filter (where age = 'forty'), count(household_id),
                               count(*) filter (where household_id is null)
                        from raw.{source} where _delivery_id = %s""",
            (second.delivery_id,),
        )
        assert cur.fetchone() == (1, 0, second.rows_loaded)
        cur.execute(
            f"select count(household_id) from raw.{source} where _delivery_id = %s", (first.delivery_id,)
        )
        assert cur.fetchone()[0] == first.rows_loaded

    # the raw gate follows the contract: no age range on text, no household_id required
    result = gates.gate_raw(changed, source, second.delivery_id, warehouse)
    assert result.success, result.describe()
    ctx = gates.context()
    assert gates.raw_suite_is_current(ctx, changed, source)
    suite = json.loads(
        (project_copy / "expectations" / "gx" / "expectations" / f"raw__{source}.json").read_text()
    )
    columns = {e["kwargs"].get("column") for e in suite["expectations"]}
    assert "household_id" not in columns and "person_id" in columns
    assert not any(
        e["type"] == "expect_column_values_to_be_between" and e["kwargs"].get("column") == "age"
        for e in suite["expectations"]
    )

    # narrowing back to integer does not fit "forty": refused, naming source, column and value
    def narrow(src):
        change(src)
        _retype("age", "integer")(src)

    narrowed = _changed_registry(tmp_path, "narrowed", source, narrow)
    (third_file,) = sample.generate(tmp_path / "n3", persons=50, seed=5, day=date(2025, 8, 3), only=[source])
    with pytest.raises(load.RawMigrationError) as err:
        _load(warehouse, reg, source, third_file, "2025-08-03", registry_=narrowed)
    message = str(err.value)
    assert source in message and "'age'" in message and "forty" in message and "bigint" in message
    assert _column_type(db, source, "age") == "text"  # nothing half-done


def test_an_existing_ledger_migrates_to_the_new_statuses(warehouse, db):
    """A warehouse from before this change (the first release's ledger) gains the columns and the
    `unloaded` status on its next run, keeping its rows. In a database of its own: the session's
    ledger stays as the other modules left it."""
    from urllib.parse import urlsplit, urlunsplit

    with db.cursor() as cur:
        cur.execute("drop database if exists lnob_old_ledger")
        cur.execute("create database lnob_old_ledger")
    parts = urlsplit(warehouse)
    old = psycopg2.connect(urlunsplit(parts._replace(path="/lnob_old_ledger")))
    old.autocommit = True
    try:
        with old.cursor() as cur:
            cur.execute("create schema lnob_meta")
            cur.execute("""create table lnob_meta.delivery_ledger (
                               delivery_id bigserial primary key, source_id text not null,
                               partner_id text not null, delivery_date date not null, file_name text not null,
                               file_path text not null, file_sha256 text not null,
                               status text not null check (status in ('loaded', 'quarantined', 'superseded')),
                               rows_loaded bigint not null default 0, reason jsonb, unexpected_fields text[],
                               run_id text, loaded_at timestamptz not null default now(),
                               unique (source_id, file_sha256))""")
            cur.execute("""insert into lnob_meta.delivery_ledger (source_id, partner_id, delivery_date, file_name,
                               file_path, file_sha256, status, rows_loaded)
                           values ('x', 'p', '2025-01-01', 'f.csv', '/f.csv', 'abc', 'loaded', 3)""")
            meta.ensure(cur)
            meta.ensure(cur)  # idempotent
            cur.execute(
                "update lnob_meta.delivery_ledger set status = 'unloaded', changed_by = 'me', "
                "replaced_by = null, changed_at = now(), change_reason = 'why' returning rows_loaded"
            )
            assert cur.fetchone() == (3,)
            with pytest.raises(psycopg2.errors.CheckViolation):
                cur.execute("update lnob_meta.delivery_ledger set status = 'gone'")
            cur.execute("select count(*) from lnob_meta.delivery_events")
            assert cur.fetchone() == (0,)
    finally:
        old.close()
        with db.cursor() as cur:
            cur.execute("drop database if exists lnob_old_ledger")
