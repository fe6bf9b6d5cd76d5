"""KoboToolbox in its real API v2 shape (issue 13), on the session's embedded PostgreSQL with the
real loader, raw gate, dbt staging and intermediate (``lnob.pipeline``'s own stage functions).

The fixtures (``tests/fixtures/kobo/``, fake people) are two pages of
``GET /api/v2/assets/<uid>/data/?format=json``: ten household submissions with group paths, the
roster as a repeat group, ``_validation_status`` (never validated, approved, on hold, not
approved), ``_geolocation``, ``_attachments``, ``_tags`` and ``_notes``. Among them a household
without roster (``hh_roster: []``), one whose ``hh_roster`` key is missing, and one whose member's
age is not a number: each is quarantined alone, named by its ``_id``, and the rest of its page
loads. The water source is a select_multiple answer (``tubewell bottled``).
"""

from __future__ import annotations

import copy
import json
import shutil
import stat
from datetime import date
from pathlib import Path

import pytest
from helpers import PROJECT, clean_warehouse
from lnob import pipeline, registry
from lnob.platform.config import settings

pytestmark = pytest.mark.integration

NIGHT = "2026-11-21"
KOBO = "brac_uhc_survey"
FIXTURES = PROJECT / "tests" / "fixtures" / "kobo"
PAGES = ["submissions_page-0001.json", "submissions_page-0002.json"]
#: What the fixtures hold, by `_id` (see tests/fixtures/kobo)
LOADED = {48210501, 48210502, 48210505, 48210506, 48210509, 48210510}
REJECTED = {48210503}  # validation_status_not_approved
QUARANTINED = {48210504: "hh_roster", 48210507: "hh_roster", 48210508: "hh_roster/age"}
UNMAPPED_ID = 48210601  # a third page, one submission naming a water source nobody mapped


def _results(name: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())["results"]


def _personal_values() -> set[str]:
    """Every name, phone number and GPS value of the fixtures: none may leave raw."""
    out = set()
    for name in PAGES:
        for sub in _results(name):
            out |= {sub["group_hh/head_name"], sub["group_hh/phone"], sub["group_location/gps"]}
            out |= {m["hh_roster/member_name"] for m in sub.get("hh_roster") or []}
            if sub["_geolocation"][0] is not None:
                out.add(str(sub["_geolocation"][0]))
            out |= {a["filename"] for a in sub["_attachments"]} | {
                a["download_url"] for a in sub["_attachments"]
            }
    return out


@pytest.fixture(scope="module")
def night(warehouse_url):
    """Tonight's three pages landed, loaded, gated, transformed, gated again and published."""
    clean_warehouse(warehouse_url, landing=True)
    folder = settings().landing_dir / "brac_bangladesh" / NIGHT
    folder.mkdir(parents=True)
    for name in PAGES:
        shutil.copy(FIXTURES / name, folder / name)
    unmapped = copy.deepcopy(_results(PAGES[0])[0])
    unmapped.update(
        {
            "_id": UNMAPPED_ID,
            "_uuid": "5eed0000-0000-4000-8000-000000000601",
            "meta/instanceID": "uuid:5eed0000-0000-4000-8000-000000000601",
            "group_hh/hh_code": "FIXT-0601",
            "group_wash/water_source": "tubewell rainwater",
        }
    )
    (folder / "submissions_page-0003.json").write_text(
        json.dumps({"count": 1, "next": None, "previous": None, "results": [unmapped]})
    )
    run_id = "kobo-real-shape"
    day = date.fromisoformat(NIGHT)
    loaded = [
        pipeline.gate_raw(warehouse_url, run_id, pipeline.load_raw(warehouse_url, run_id, d))
        for d in pipeline.extract(warehouse_url, run_id, day)
    ]
    transformed = pipeline.transform_stage(warehouse_url, run_id)
    gated = pipeline.gate_marts(warehouse_url, run_id)
    published = pipeline.publish_stage(warehouse_url, run_id)
    summary = pipeline.summary(warehouse_url, run_id, day)
    return {
        "loaded": {r["file_name"]: r for r in loaded},
        "transform": transformed,
        "gate": gated,
        "published": published,
        "summary": summary,
    }


def _query(db, sql: str, *args) -> list[tuple]:
    with db.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def test_every_submission_is_accounted_for(night):
    pages = [night["loaded"][name] for name in PAGES]
    assert all(p["outcome"] == "loaded" and p["gate"] == "passed" for p in pages), pages
    delivered = sum(len(_results(name)) for name in PAGES)
    total = {
        k: sum(p["submissions"][k] for p in pages) for k in ("delivered", "loaded", "rejected", "quarantined")
    }
    assert total == {
        "delivered": delivered,
        "loaded": len(LOADED),
        "rejected": len(REJECTED),
        "quarantined": len(QUARANTINED),
    }
    assert total["loaded"] + total["rejected"] + total["quarantined"] == total["delivered"]
    # the run summary says it per source, the held-back page's submission included
    subs = night["summary"]["sources"][KOBO]["submissions"]
    assert subs == {
        "delivered": delivered + 1,
        "loaded": len(LOADED) + 1,
        "rejected": len(REJECTED),
        "quarantined": len(QUARANTINED),
    }
    assert "rejected by the partner's reviewers" in pipeline.format_summary(night["summary"])


def test_a_broken_submission_is_quarantined_alone_by_its_id(night, db):
    assert {
        r[0] for r in _query(db, f"select distinct record_key from raw.{KOBO}")
    } == LOADED | REJECTED  # page 3 held back
    kept = {}
    for name in PAGES:
        for q in night["loaded"][name]["quarantined_submissions"] or []:
            kept[int(q["submission"].split()[-1])] = q
    assert set(kept) == set(QUARANTINED)
    personal = _personal_values()
    for key, q in kept.items():
        path = Path(q["quarantine_path"])
        reason_path = path.with_name(path.name + ".reason.json")
        assert json.loads(path.read_text())["_id"] == key  # the submission as the platform sent it
        for p in (path, reason_path, path.parent):
            assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, p  # owner-only
        reason = json.loads(reason_path.read_text())
        assert reason["partner"] == "brac_bangladesh" and reason["source"] == KOBO
        assert reason["submission"] == f"_id {key}" and reason["file"].endswith(".json")
        assert reason["errors"][0]["column"] == QUARANTINED[key]
        assert reason["errors"][0]["expected"]
        text = reason_path.read_text()
        assert not [v for v in personal if v in text]
    # the ledger counts them on the loaded page
    rows = _query(
        db,
        """select file_name, reason->'submissions' from lnob_meta.delivery_ledger
                         where source_id = %s and reason->>'kind' = 'submissions_quarantined'
                         order by file_name""",
        KOBO,
    )
    assert [(f, s["quarantined"]) for f, s in rows] == [(PAGES[0], 1), (PAGES[1], 2)]


def test_a_page_that_is_not_the_envelope_still_quarantines_whole(night, tmp_path, warehouse_url):
    import psycopg2
    from lnob.ingest import load

    reg = registry.load()
    src = reg.source(KOBO)
    path = tmp_path / "submissions_page-0009.json"
    path.write_text(json.dumps({"detail": "Not found."}))
    conn = psycopg2.connect(warehouse_url)
    try:
        result = load.load_delivery(
            conn, reg, load.Delivery(src.id, src.partner, NIGHT, str(path), load.file_sha256(path))
        )
    finally:
        conn.close()
    assert result.outcome == "quarantined" and result.reason["kind"] == "malformed_page"


def test_nested_metadata_is_json_in_raw_and_gps_and_attachments_are_never_stored(night, db):
    kinds = _query(
        db,
        f"""select jsonb_typeof(_overflow->'_validation_status'), jsonb_typeof(_overflow->'_tags'),
                                  jsonb_typeof(_overflow->'_notes'), _overflow ? '_geolocation',
                                  _overflow ? '_attachments', count(*)
                           from raw.{KOBO} group by 1, 2, 3, 4, 5""",
    )
    assert [k[:5] for k in kinds] == [("object", "array", "array", False, False)]
    note = _query(db, f"select _overflow->'_notes'->0->>'note' from raw.{KOBO} where record_key = 48210510")
    assert note[0][0] == "Revisit scheduled"
    states = dict(_query(db, f"select record_key, review_state from raw.{KOBO} where member_no = 1"))
    assert states[48210503] == "validation_status_not_approved" and states[48210501] is None


def test_select_multiple_is_recoded_choice_by_choice(night, db):
    rows = _query(
        db,
        f"""select r.record_key, s.water_safe, s.water_safe_set
                          from staging.stg_{KOBO}__household_members as s
                          join raw.{KOBO} as r on r._delivery_id = s.delivery_id and r._row_number = s.row_number
                          where r.member_no = 1 and r.record_key <> %s""",
        UNMAPPED_ID,
    )
    water = {k: (v, s) for k, v, s in rows}
    assert water[48210501] == ("1", ["1", "1"])  # tubewell bottled: every source safe
    assert water[48210502] == ("0", ["1", "0"])  # piped_dwelling surface_water: one unsafe
    assert water[48210509] == ("1", ["1", "1"])
    assert water[48210510] == ("0", ["0"])  # one source
    assert water[48210505] == ("1", ["1"])


def test_an_unmapped_choice_holds_its_delivery_back(night, db):
    held = [h for h in night["summary"]["held_back"] if h["file"] == "submissions_page-0003.json"]
    assert len(held) == 1 and any("UNMAPPED:rainwater" in w and "water_safe" in w for w in held[0]["why"])
    assert all(h["file"] == "submissions_page-0003.json" for h in night["summary"]["held_back"])
    assert _query(
        db,
        """select status from lnob_meta.delivery_ledger where file_name = %s""",
        "submissions_page-0003.json",
    ) == [("quarantined",)]


def test_rejected_submissions_never_count(night, db, warehouse_url):
    rows = _query(
        db,
        f"""select r.record_key, h.is_rejected, h.water_safe_set
                          from intermediate.int_persons_harmonised as h
                          join staging.stg_{KOBO}__household_members as s
                            on s.record_key = h.record_key and s.delivery_id = h.delivery_id
                          join raw.{KOBO} as r on r._delivery_id = s.delivery_id and r._row_number = s.row_number
                          where h.source_id = %s""",
        KOBO,
    )
    by_key: dict[int, set] = {}
    for key, rejected, _ in rows:
        by_key.setdefault(key, set()).add(rejected)
    assert set(by_key) == LOADED | REJECTED  # nothing quarantined or held back reaches intermediate
    assert all(by_key[k] == {True} for k in REJECTED)
    assert all(by_key[k] == {False} for k in LOADED)  # on hold (hasIssues) and approved count
    # what every estimate reads leaves them out (the view computes keyed hashes: the key's session)
    import psycopg2
    from lnob.transform import pseudonym

    conn = psycopg2.connect(warehouse_url, options=pseudonym.pgoptions(settings().pseudonym_key))
    try:
        with conn.cursor() as cur:
            cur.execute(
                """select count(*) from intermediate.int_sdg_responses
                           where source_id = %s and series = 'SH_H2O_SAFE'""",
                (KOBO,),
            )
            counted = cur.fetchone()[0]
            cur.execute(
                """select count(*) filter (where not is_rejected), count(*)
                           from intermediate.int_persons_harmonised
                           where source_id = %s and water_safe in ('0', '1')""",
                (KOBO,),
            )
            accepted, everyone = cur.fetchone()
    finally:
        conn.close()
    assert counted == accepted == 12 and everyone == 13  # the rejected household's member is out


def test_no_personal_value_reaches_staging_or_a_log(night, db):
    personal = _personal_values()
    staged = json.dumps(
        _query(db, f"select to_jsonb(s)::text from staging.stg_{KOBO}__household_members as s")
    )
    harmonised = json.dumps(
        _query(db, "select to_jsonb(h)::text from intermediate.int_persons_harmonised as h")
    )
    logged = json.dumps(
        _query(db, "select detail::text from lnob_meta.run_log where run_id = 'kobo-real-shape'")
    )
    ledger = json.dumps(_query(db, "select reason::text from lnob_meta.delivery_ledger"))
    for where, text in (
        ("staging", staged),
        ("intermediate", harmonised),
        ("run log", logged),
        ("ledger", ledger),
    ):
        leaked = [v for v in personal if v in text]
        assert not leaked, f"{where} holds personal values: {len(leaked)}"


def test_odk_central_a_broken_submission_is_named_by_its_id_and_a_rejection_counted(tmp_path):
    """The same contract per submission for ODK Central OData pages (no database needed)."""
    import io

    from lnob.ingest import load
    from lnob_dev import sample

    reg = registry.load()
    src = reg.source("aak_clm_survey")
    sample.generate(tmp_path / "landing", persons=40, seed=5, day=date.fromisoformat(NIGHT), only=[src.id])
    page_path = sorted((tmp_path / "landing").rglob("Submissions_page-*.json"))[0]
    page = json.loads(page_path.read_text())
    rows = page["value"]
    rows[1]["respondent"]["age"] = "forty"
    rows[2]["__system"]["reviewState"] = "rejected"
    for r in rows[3:]:
        if r["__system"]["reviewState"] == "rejected":
            r["__system"]["reviewState"] = None
    broken = tmp_path / "Submissions_page-0001.json"
    broken.write_text(json.dumps(page))
    spooled = load._spool(src, broken, io.StringIO())
    assert spooled.submissions == {
        "delivered": len(rows),
        "loaded": len(rows) - 2,
        "rejected": 1,
        "quarantined": 1,
    }
    [bad] = spooled.bad_submissions
    assert bad["key"] == rows[1]["__id"]
    assert bad["errors"][0]["submission"] == f"__id {rows[1]['__id']}"
    assert bad["errors"][0]["column"] == "respondent/age" and bad["errors"][0]["found"] == "forty"
    assert spooled.rows == len(rows) - 1  # the rejected one is kept in raw, flagged by its review state


def test_the_loaded_submissions_are_published_and_the_rejected_one_is_not(night, db):
    """The pages flow to `marts` (mart gate passed, published): the harmonised persons that count
    are exactly the members of the loaded submissions; the rejected submission's members are kept
    flagged and never counted; the quarantined and held-back submissions are not there at all."""
    assert night["gate"]["dbt_tests"] == "passed" and night["gate"]["gx"] > 0, night["gate"]
    assert night["published"]["fct_sdg_observation"] > 0, night["published"]
    members = {s["_id"]: len(s.get("hh_roster") or []) for name in PAGES for s in _results(name)}
    ((counted, rejected),) = _query(
        db,
        """select count(*) filter (where not is_rejected),
                                                count(*) filter (where is_rejected)
                                         from intermediate.int_persons_harmonised where source_id = %s""",
        KOBO,
    )
    assert counted == sum(members[i] for i in LOADED)
    assert rejected == sum(members[i] for i in REJECTED)
    ((published,),) = _query(
        db,
        """select count(*) from marts.fct_sdg_observation
                                   where partners like '%%brac_bangladesh%%' and ref_area = '50'""",
    )
    assert published > 0
