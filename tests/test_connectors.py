"""API connectors against a local server that answers in each platform's real shape, then the
fetched pages through the loader into the real warehouse."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import date
from pathlib import Path

import pytest
from api_server import TOKEN, FakePlatforms
from lnob import registry
from lnob.ingest import connectors, load
from lnob_dev import sample

pytestmark = pytest.mark.integration

NIGHT = date(2026, 3, 10)


@pytest.fixture(scope="module")
def reg():
    return registry.load()


@pytest.fixture(scope="module")
def platforms(tmp_path_factory, reg):
    landing = tmp_path_factory.mktemp("generated")
    sample.generate(
        landing, persons=3000, seed=21, day=NIGHT, only=["brac_uhc_survey", "aak_clm_survey", "unsd_sdg_api"]
    )
    server = FakePlatforms.from_landing(landing, reg)
    yield server
    server.close()


def _small_pages(src, size):
    return dataclasses.replace(src, format={**src.format, "page_size": size})


def _load_pages(warehouse_url, reg, src, pages: list[Path]) -> int:
    import psycopg2

    rows = 0
    conn = psycopg2.connect(warehouse_url)
    for page in pages:
        result = load.load_delivery(
            conn,
            reg,
            load.Delivery(src.id, src.partner, NIGHT.isoformat(), str(page), load.file_sha256(page)),
        )
        assert result.outcome == "loaded", result.reason
        rows += result.rows_loaded
    conn.close()
    return rows


def test_kobotoolbox_pages_a_500_retried_then_loaded(platforms, reg, tmp_path, warehouse_url):
    src = _small_pages(reg.source("brac_uhc_survey"), 100)
    total = len(platforms.kobo_results)
    platforms.fail_once.add(f"/api/v2/assets/{src.format['asset_uid']}/data/?100")
    platforms.hits.clear()
    pages = connectors.fetch(
        src, connectors.Endpoint(platforms.url, token=TOKEN), tmp_path, sleep=lambda s: None
    )
    assert len(pages) == math.ceil(total / 100)
    assert len(platforms.hits) == len(pages) + 1  # the second page was asked twice
    fetched = [r for p in pages for r in json.loads(p.read_text())["results"]]
    assert [r["_id"] for r in fetched] == [r["_id"] for r in platforms.kobo_results]
    members = sum(len(r["hh_roster"]) for r in fetched)
    assert _load_pages(warehouse_url, reg, src, pages) == members


def test_kobotoolbox_incremental_by_submission_time(platforms, reg, tmp_path):
    src = reg.source("brac_uhc_survey")
    times = sorted(r["_submission_time"] for r in platforms.kobo_results)
    since = times[len(times) // 2]
    pages = connectors.fetch(src, connectors.Endpoint(platforms.url, token=TOKEN), tmp_path, since=since)
    fetched = [r for p in pages for r in json.loads(p.read_text())["results"]]
    assert fetched and all(r["_submission_time"] > since for r in fetched)
    assert len(fetched) == sum(t > since for t in times)


def test_odk_central_odata_pages_and_a_500(platforms, reg, tmp_path, warehouse_url):
    src = _small_pages(reg.source("aak_clm_survey"), 250)
    odk_path = f"/v1/projects/{src.format['project_id']}/forms/{src.format['form_id']}.svc/Submissions"
    platforms.fail_once.add(f"{odk_path}?")  # the very first request
    pages = connectors.fetch(
        src, connectors.Endpoint(platforms.url, token=TOKEN), tmp_path, sleep=lambda s: None
    )
    assert len(pages) == math.ceil(len(platforms.odk_values) / 250)
    assert _load_pages(warehouse_url, reg, src, pages) == len(platforms.odk_values)


def test_un_sdg_api_pages_every_series(platforms, reg, tmp_path, warehouse_url):
    src = _small_pages(reg.source("unsd_sdg_api"), 10)
    m49 = {iso3: c.m49 for iso3, c in reg.countries.items()}
    pages = connectors.fetch(src, connectors.Endpoint(platforms.url), tmp_path, m49=m49)
    expected = sum(len(v) for v in platforms.unsd_rows.values())
    assert sum(len(json.loads(p.read_text())["data"]) for p in pages) == expected
    assert _load_pages(warehouse_url, reg, src, pages) == expected


def test_refused_credentials_name_the_source_and_are_not_retried(platforms, reg, tmp_path):
    src = reg.source("brac_uhc_survey")
    platforms.hits.clear()
    with pytest.raises(connectors.ConnectorError) as err:
        connectors.fetch(
            src, connectors.Endpoint(platforms.url, token="wrong"), tmp_path, sleep=lambda s: None
        )
    message = str(err.value)
    assert isinstance(err.value, connectors.RequestRefused)  # NotRetryable: the task fails at once
    assert "brac_uhc_survey (brac_bangladesh)" in message and "401" in message
    assert src.connection in message
    assert len(platforms.hits) == 1
    assert not list(tmp_path.iterdir()), "nothing lands from a refused fetch"


def test_an_edited_kobotoolbox_record_supersedes_its_predecessor(platforms, reg, tmp_path, warehouse_url, db):
    import copy

    src = _small_pages(reg.source("brac_uhc_survey"), 50)
    (first,) = connectors.fetch(
        dataclasses.replace(src, format={**src.format, "page_size": 50}),
        connectors.Endpoint(platforms.url, token=TOKEN),
        tmp_path / "a",
    )[:1]
    page = json.loads(first.read_text())
    page["results"] = page["results"][:3]
    original = tmp_path / "a" / "original.json"
    original.write_text(json.dumps(page))
    edit = copy.deepcopy(page)
    sub = edit["results"][1]
    sub["meta/deprecatedID"] = sub["meta/instanceID"]
    sub["meta/instanceID"] = "uuid:00000000-0000-4000-8000-000000000001"
    sub["hh_roster"][0]["hh_roster/age"] = "51"
    edit["results"] = [sub]
    edited = tmp_path / "a" / "edited.json"
    edited.write_text(json.dumps(edit))
    _load_pages(warehouse_url, reg, src, [original])
    _load_pages(warehouse_url, reg, src, [edited])
    with db.cursor() as cur:
        cur.execute(
            """select count(*) filter (where _superseded_by is not null),
                              count(*) filter (where _superseded_by is null),
                              count(*) filter (where _superseded_by is null and instance_id like 'uuid:00000000%%'),
                              count(distinct _superseded_by)
                       from raw.brac_uhc_survey where record_key = %s""",
            (sub["_id"],),
        )
        superseded, current, edited_rows, by = cur.fetchone()
    members = len(sub["hh_roster"])
    assert current == edited_rows == members  # only the edit is current
    assert superseded >= members and superseded % members == 0 and by >= 1  # every earlier version
    with db.cursor() as cur:
        cur.execute(
            """select count(*) from raw.brac_uhc_survey as o join raw.brac_uhc_survey as e
                         on e._delivery_id = o._superseded_by
                       where o.record_key = %s and o._file_name = 'original.json'
                         and e._file_name = 'edited.json' and e.record_key = o.record_key""",
            (sub["_id"],),
        )
        assert cur.fetchone()[0] == members * members  # the original's rows point at the edit
